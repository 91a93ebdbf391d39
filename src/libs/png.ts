import { deflateSync } from 'node:zlib'

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]
const BLACK = 0
const WHITE = 255

/** One PNG chunk: length, type, data, then the CRC-32 of type and data. */
function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length)
  const view = new DataView(out.buffer)
  view.setUint32(0, data.length)
  out.set(new TextEncoder().encode(type), 4)
  out.set(data, 8)
  view.setUint32(8 + data.length, Bun.hash.crc32(out.subarray(4, 8 + data.length)))
  return out
}

/**
 * A greyscale PNG of a module matrix (`true` = dark), each module `scale` pixels square,
 * black on white with a quiet zone of `margin` modules all round.
 */
export function pngFromModules(modules: boolean[][], { scale = 8, margin = 4 } = {}): Uint8Array<ArrayBuffer> {
  if (!Number.isInteger(scale) || scale < 1 || !Number.isInteger(margin) || margin < 0) {
    throw new Error('pngFromModules needs a whole scale ≥ 1 and a whole margin ≥ 0')
  }
  const count = modules.length
  const side = (count + 2 * margin) * scale
  // Each scanline: filter type 0 (None), then one byte per pixel.
  const stride = side + 1
  const raw = new Uint8Array(stride * side).fill(WHITE)
  for (let y = 0; y < side; y++) {
    raw[y * stride] = 0
    const row = modules[Math.floor(y / scale) - margin]
    if (!row) continue
    for (let x = 0; x < count; x++) {
      if (row[x]) raw.fill(BLACK, y * stride + 1 + (x + margin) * scale, y * stride + 1 + (x + margin + 1) * scale)
    }
  }

  const header = new Uint8Array(13)
  const view = new DataView(header.buffer)
  view.setUint32(0, side)
  view.setUint32(4, side)
  header[8] = 8 // bit depth
  header[9] = 0 // colour type: greyscale; compression, filter and interlace methods stay 0
  const parts = [
    Uint8Array.from(SIGNATURE),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', new Uint8Array(0)),
  ]
  const png = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0))
  let offset = 0
  for (const part of parts) {
    png.set(part, offset)
    offset += part.length
  }
  return png
}
