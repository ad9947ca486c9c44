export { GamepayClient, parseRetryAfter } from './client.js'
export type { CallbackOptions, ClientOptions, CreateOrderOptions, RequestOptions, ResponseInfo, RetryInfo } from './client.js'
export { GamepayError, GamepayTransportError } from './errors.js'
export type { TransportFailure } from './errors.js'
export { callbackSignature, callbackStringA, signCallback } from './sign-callback.js'
export type { SignCallbackOptions, SignType } from './sign-callback.js'
export {
  DEFAULT_TOLERANCE_SECONDS, NotificationVerificationError, SIGNATURE_HEADER, signNotification, verifyNotification,
} from './notifications.js'
export type { NotificationFailure, VerifyNotificationOptions } from './notifications.js'
export {
  expressNotificationHandler, fastifyNotificationHandler, fastifyNotifications, handleNotification, nodeNotificationHandler,
} from './handlers.js'
export type {
  FastifyLikeInstance, FastifyLikeReply, FastifyLikeRequest, FastifyNotificationsOptions, NodeLikeRequest, NodeLikeResponse,
  NotificationHandlerOptions, NotificationOutcome,
} from './handlers.js'
export type {
  CallbackParams, CancelledOrder, CancelOrderInput, CreatedOrder, CreateOrderInput, Envelope, GamepayEvent, Goods,
  OrderPaid, OrderPaidEvent, PaidOrder, State, TestEvent, VerifyInput,
} from './types.js'
