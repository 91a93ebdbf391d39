import { t, type UnwrapSchema } from 'elysia'

/**
 * Regex alternatives for the positive decimals of `max`'s length up to `max`, digit by digit: the
 * same first digits, then a smaller one, then any digits; or `max` itself.
 */
function decimalsUpTo(max: string): string[] {
  const below = [...max].flatMap((digit, at) => {
    const lowest = at === 0 ? 1 : 0
    const highest = Number(digit) - 1
    if (highest < lowest) return []
    const rest = max.length - at - 1
    const smaller = highest === lowest ? `${lowest}` : `[${lowest}-${highest}]`
    return [`${max.slice(0, at)}${smaller}${rest > 0 ? `[0-9]{${rest}}` : ''}`]
  })
  return [...below, max]
}

const MAX_ID = String(Number.MAX_SAFE_INTEGER)

/**
 * A note id as the path spells it: a positive decimal integer up to 2^53 - 1 with no sign, leading
 * zero, exponent, point or 0x/0b prefix (t.Numeric would take `0x27` and `3.9e1` for 39).
 */
const noteId = t
  .Transform(
    t.String({
      pattern: `^(?:[1-9][0-9]{0,${MAX_ID.length - 2}}|${decimalsUpTo(MAX_ID).join('|')})$`,
      description: `a positive decimal integer up to ${MAX_ID}`,
    }),
  )
  .Decode(Number)
  .Encode(String)

export const NoteModel = {
  createBody: t.Object({ text: t.String({ minLength: 1, maxLength: 1000 }) }),
  params: t.Object({ id: noteId }),
  note: t.Object({ id: t.Integer(), text: t.String(), createdAt: t.String({ format: 'date-time' }) }),
} as const

export type Note = UnwrapSchema<typeof NoteModel.note>
