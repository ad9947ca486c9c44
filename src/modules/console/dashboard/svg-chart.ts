// Server-rendered SVG bar charts: a few dozen rectangles need no chart library and no script, and
// they print, scale to a phone and pass the pages' Content-Security-Policy (no style attributes).

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

export interface Series {
  name: string
  /** A colour the chart draws the series in. */
  colour: string
  values: number[]
}

/**
 * Vertical bars per label (one bar per series, side by side), with a baseline, the top value on
 * the axis and a <title> per bar for its exact figure. `format` prints a value.
 */
export function barChart (opts: { title: string, labels: string[], series: Series[], format?: (n: number) => string, height?: number }): string {
  const { labels, series } = opts
  const format = opts.format ?? String
  const width = 720
  const height = opts.height ?? 220
  const left = 56
  const bottom = 28
  const top = 12
  const plotW = width - left - 8
  const plotH = height - top - bottom
  const max = Math.max(1, ...series.flatMap((s) => s.values))
  const slot = plotW / Math.max(1, labels.length)
  const barW = Math.max(1, (slot * 0.8) / series.length)
  const parts: string[] = []
  parts.push(`<line x1="${left}" y1="${top + plotH}" x2="${width - 8}" y2="${top + plotH}" stroke="#8a94a6"/>`)
  parts.push(`<text x="${left - 6}" y="${top + 10}" text-anchor="end" font-size="11" fill="#5b6575">${escape(format(max))}</text>`)
  parts.push(`<text x="${left - 6}" y="${top + plotH}" text-anchor="end" font-size="11" fill="#5b6575">0</text>`)
  labels.forEach((label, i) => {
    series.forEach((s, j) => {
      const v = s.values[i] ?? 0
      const h = (v / max) * plotH
      const x = left + i * slot + slot * 0.1 + j * barW
      parts.push(`<rect x="${x.toFixed(1)}" y="${(top + plotH - h).toFixed(1)}" width="${barW.toFixed(1)}" height="${h.toFixed(1)}" fill="${s.colour}"><title>${escape(`${label} ${s.name}: ${format(v)}`)}</title></rect>`)
    })
    // Every fifth label, and the last, so thirty days stay readable.
    if (i % 5 === 0 || i === labels.length - 1) {
      parts.push(`<text x="${(left + i * slot + slot / 2).toFixed(1)}" y="${height - 8}" text-anchor="middle" font-size="11" fill="#5b6575">${escape(label)}</text>`)
    }
  })
  const legend = series.map((s, j) => `<rect x="${left + j * 130}" y="0" width="10" height="10" fill="${s.colour}"/><text x="${left + j * 130 + 14}" y="9" font-size="11" fill="#1d2430">${escape(s.name)}</text>`).join('')
  return `<svg class="chart" viewBox="0 -4 ${width} ${height + 4}" role="img" aria-label="${escape(opts.title)}" xmlns="http://www.w3.org/2000/svg"><title>${escape(opts.title)}</title>${legend}${parts.join('')}</svg>`
}
