// A local WeChat stand-in for the login scenario: the built-in simulator behind Bun.serve.
import { createWechatSimulator } from '../src/server'

const simulator = createWechatSimulator({ appid: 'wxbench', secret: 'bench-secret' })
const server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: simulator.fetch })
console.log(`wechat listening on http://127.0.0.1:${server.port}`)
