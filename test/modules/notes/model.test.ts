import { describe, expect, test } from 'bun:test'
import { NoteModel } from '../../../src/modules/notes/model'

const MAX = BigInt(Number.MAX_SAFE_INTEGER)
const idPattern = new RegExp(NoteModel.params.properties.id.pattern ?? '')

/** Decimals near 2^53 - 1 that differ from it in one digit, and every length of 1 to 17 digits. */
function samples(): bigint[] {
  const near = [...String(MAX)].flatMap((_, at) => {
    const step = 10n ** BigInt(String(MAX).length - at - 1)
    return [MAX - step, MAX + step]
  })
  const lengths = Array.from({ length: 17 }, (_, digits) => [10n ** BigInt(digits), 10n ** BigInt(digits + 1) - 1n])
  return [...near, ...lengths.flat(), MAX - 1n, MAX, MAX + 1n]
}

describe('note id pattern', () => {
  test('takes exactly the decimals 1 to 2^53 - 1', () => {
    for (const id of samples()) expect([String(id), idPattern.test(String(id))]).toEqual([String(id), id <= MAX])
  })

  test.each(['0', '00', '01', '+1', '-1', '1.0', '1e3', '0x1', '0b1', '0o1', ' 1', '1 ', ''])('refuses %p', (id) => {
    expect(idPattern.test(id)).toBe(false)
  })
})
