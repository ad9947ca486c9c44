import type { FastifyRequest } from 'fastify'

export type Lang = 'zh' | 'en'
export type Messages = Record<string, { zh: string, en: string }>

export const LANG_COOKIE = 'gamepay_lang'
const catalog = new Map<string, { zh: string, en: string }>()

/** Each console area adds its labels at load; a key defined twice is a mistake. */
export function defineMessages (messages: Messages): void {
  for (const [key, value] of Object.entries(messages)) {
    if (catalog.has(key)) throw new Error(`console label "${key}" is defined twice`)
    catalog.set(key, value)
  }
}

export type Translate = (key: string, vars?: Record<string, string | number>) => string

/** The labels of one language; `{name}` in a label takes vars.name. An unknown key shows as itself. */
export function translator (lang: Lang): Translate {
  return (key, vars) => {
    const text = catalog.get(key)?.[lang] ?? key
    return vars ? text.replace(/\{(\w+)\}/g, (whole, name: string) => String(vars[name] ?? whole)) : text
  }
}

/** ?lang= (the switch), then the cookie the switch sets, then Accept-Language; Chinese unless English comes first. */
export function consoleLang (req: FastifyRequest): Lang {
  const query = (req.query as Record<string, unknown> | undefined)?.lang
  if (query === 'zh' || query === 'en') return query
  const cookie = req.cookies?.[LANG_COOKIE]
  if (cookie === 'zh' || cookie === 'en') return cookie
  const header = String(req.headers['accept-language'] ?? '')
  const first = header.split(',').map((part) => part.trim().toLowerCase()).find((part) => part.startsWith('zh') || part.startsWith('en'))
  return first?.startsWith('en') ? 'en' : 'zh'
}

defineMessages({
  'app.title': { zh: 'gamepay 控制台', en: 'gamepay console' },
  'nav.label': { zh: '主导航', en: 'Main' },
  'nav.dashboard': { zh: '概览', en: 'Dashboard' },
  'nav.orders': { zh: '订单', en: 'Orders' },
  'nav.anomalies': { zh: '异常', en: 'Anomalies' },
  'nav.goods': { zh: '商品', en: 'Goods' },
  'nav.reconciliation': { zh: '对账', en: 'Reconciliation' },
  'nav.sandbox': { zh: '沙箱收银台', en: 'Sandbox cashier' },
  'nav.audit': { zh: '审计日志', en: 'Audit log' },
  'nav.skip': { zh: '跳到正文', en: 'Skip to content' },
  'lang.switch': { zh: 'English', en: '中文' },
  'lang.label': { zh: '语言', en: 'Language' },
  'signin.title': { zh: '登录', en: 'Sign in' },
  'signin.name': { zh: '用户名', en: 'Name' },
  'signin.password': { zh: '密码', en: 'Password' },
  'signin.submit': { zh: '登录', en: 'Sign in' },
  'signin.failed': { zh: '用户名或密码错误，或账号暂时锁定。', en: 'Wrong name or password, or the account is locked for a while.' },
  'signin.limited': { zh: '尝试次数过多，请稍后再试。', en: 'Too many attempts; try again later.' },
  'signin.expired': { zh: '登录表单已过期，请重试。', en: 'The sign-in form expired; please try again.' },
  'nav.signout': { zh: '退出', en: 'Sign out' },
  'role.admin': { zh: '管理员', en: 'admin' },
  'role.viewer': { zh: '只读', en: 'viewer' },
  'error.title': { zh: '出错了', en: 'Something went wrong' },
  'error.back': { zh: '返回', en: 'Back' },
  'audit.title': { zh: '审计日志', en: 'Audit log' },
  'audit.at': { zh: '时间', en: 'When' },
  'audit.operator': { zh: '操作员', en: 'Operator' },
  'audit.action': { zh: '操作', en: 'Action' },
  'audit.target': { zh: '对象', en: 'Target' },
  'audit.ip': { zh: '来源地址', en: 'Address' },
  'audit.before': { zh: '之前', en: 'Before' },
  'audit.after': { zh: '之后', en: 'After' },
  'audit.trace': { zh: '追踪号', en: 'Trace id' },
  'audit.older': { zh: '更早', en: 'Older' },
  'common.none': { zh: '无', en: 'none' },
  'common.yes': { zh: '是', en: 'yes' },
  'common.no': { zh: '否', en: 'no' },
  'common.save': { zh: '保存', en: 'Save' },
  'common.search': { zh: '搜索', en: 'Search' },
  'common.next': { zh: '下一页', en: 'Next page' },
})
