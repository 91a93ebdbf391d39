import { t } from 'elysia'

/** Base64 strings; the 64 KiB body limit caps encryptedData before this does. */
const base64Field = (maxLength: number) => t.String({ minLength: 1, maxLength })

export const OpenDataModel = {
  decryptBody: t.Object({ encryptedData: base64Field(65_536), iv: base64Field(64) }),
  decryptResponse: t.Object({ data: t.Record(t.String(), t.Unknown()) }),
  verifyBody: t.Object({
    rawData: t.String({ minLength: 1, maxLength: 32_768 }),
    signature: t.String({ minLength: 1, maxLength: 128 }),
  }),
  verifyResponse: t.Object({ valid: t.Literal(true), data: t.Unknown() }),
  phoneBody: t.Object({ code: t.String({ minLength: 1, maxLength: 256 }) }),
  phoneResponse: t.Object({
    phoneNumber: t.String(),
    purePhoneNumber: t.String(),
    countryCode: t.Union([t.String(), t.Number()]),
  }),
  sessionKeyResponse: t.Object({ valid: t.Boolean() }),
} as const

export const AES_BLOCK_BYTES = 16
