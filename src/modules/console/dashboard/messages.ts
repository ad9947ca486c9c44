import { defineMessages } from '../i18n.ts'

defineMessages({
  'dashboard.title': { zh: '概览', en: 'Dashboard' },
  'dashboard.today': { zh: '今天（{day}）', en: 'Today ({day})' },
  'dashboard.last30': { zh: '最近 30 天', en: 'Last 30 days' },
  'dashboard.created': { zh: '创建订单', en: 'Orders created' },
  'dashboard.paid': { zh: '支付订单', en: 'Orders paid' },
  'dashboard.conversion': { zh: '转化率', en: 'Conversion' },
  'dashboard.revenue': { zh: '收入（元）', en: 'Revenue (yuan)' },
  'dashboard.revenue_chart': { zh: '每日收入（元）', en: 'Revenue per day (yuan)' },
  'dashboard.orders_chart': { zh: '每日订单：创建与支付', en: 'Orders per day: created and paid' },
  'dashboard.callbacks': { zh: '回调结果', en: 'Callbacks by outcome' },
  'dashboard.outcome': { zh: '结果', en: 'Outcome' },
  'dashboard.day': { zh: '日期', en: 'Day' },
  'dashboard.table': { zh: '每日数据', en: 'Figures per day' },
  'dashboard.times': { zh: '时间按北京时间（UTC+8）计。', en: 'Days are Asia/Shanghai (UTC+8) calendar days.' },
})
