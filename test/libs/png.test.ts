import { describe, expect, test } from 'bun:test'
import { PNG } from 'pngjs'
import { pngFromModules } from '../../src/libs/png'

/** A 3×3 matrix: dark corners and centre, light elsewhere. */
const MODULES = [
  [true, false, true],
  [false, true, false],
  [true, false, true],
]

const decode = (bytes: Uint8Array) => PNG.sync.read(Buffer.from(bytes))
/** The red channel of pixel (x, y); pngjs expands greyscale to RGBA, so r = g = b. */
const grey = (png: PNG, x: number, y: number) => png.data[(y * png.width + x) * 4]

describe('pngFromModules', () => {
  test('is an 8-bit greyscale PNG that pngjs reads (so its CRCs and zlib stream are right)', () => {
    const bytes = pngFromModules(MODULES, { scale: 2, margin: 1 })
    expect([...bytes.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
    // IHDR: bit depth at byte 24, colour type at byte 25.
    expect([bytes[24], bytes[25]]).toEqual([8, 0])
    const png = decode(bytes)
    expect([png.width, png.height]).toEqual([(3 + 2) * 2, (3 + 2) * 2])
  })

  test('defaults: 8 pixels a module, a quiet zone of 4 modules', () => {
    const png = decode(pngFromModules(MODULES))
    expect(png.width).toBe((3 + 8) * 8)
    expect(png.height).toBe((3 + 8) * 8)
  })

  test('the quiet zone is white, dark modules black, light modules white', () => {
    const scale = 4
    const margin = 2
    const png = decode(pngFromModules(MODULES, { scale, margin }))
    const side = png.width
    for (let i = 0; i < side; i++) {
      for (const [x, y] of [
        [i, 0],
        [0, i],
        [i, side - 1],
        [side - 1, i],
        [i, margin * scale - 1],
      ] as const) {
        expect(grey(png, x, y)).toBe(255)
      }
    }
    const at = (column: number, row: number, dx = 0, dy = 0) =>
      grey(png, (margin + column) * scale + dx, (margin + row) * scale + dy)
    for (let row = 0; row < 3; row++) {
      for (let column = 0; column < 3; column++) {
        const expected = MODULES[row]?.[column] ? 0 : 255
        expect([at(column, row), at(column, row, scale - 1, scale - 1)]).toEqual([expected, expected])
      }
    }
  })

  test('refuses a scale below 1', () => {
    expect(() => pngFromModules(MODULES, { scale: 0 })).toThrow()
  })
})
