// The one wxauth client of this mini program: every page imports it from here.
import { createWxAuth } from '../libs/wxauth.js'

// Your wxauth server. For a real device it must be an HTTPS domain listed under 服务器域名 → request合法域名
// (see the README's "Connect a real mini program"). In WeChat DevTools, with 不校验合法域名 ticked, a LAN
// address of `HOST=0.0.0.0 bun run dev` works too, e.g. 'http://192.168.1.20:3000'.
export const BASE_URL = 'https://api.example.com'

export const auth = createWxAuth({ baseUrl: BASE_URL })
