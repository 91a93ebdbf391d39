// The viewer's files, imported `with { type: 'file' }`: each is a path (inside the compiled binary
// too). swagger-ui-dist ships no types for them.
declare module 'swagger-ui-dist/swagger-ui-bundle.js' {
  const path: string
  export default path
}
declare module 'swagger-ui-dist/swagger-ui.css' {
  const path: string
  export default path
}
