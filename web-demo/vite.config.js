// server/build.rs runs `npm run build -- --outDir <OUT_DIR>/web` so the built files never land in
// the source tree; `npm run dev` proxies the server's endpoints to a locally running `plait serve`.
import { defineConfig } from 'vite'

const server = process.env.PLAIT_SERVER || 'http://127.0.0.1:1234'

export default defineConfig({
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: false,
    target: 'es2022',
    rolldownOptions: {
      output: {
        // The code both page flavours load (Yjs, ProseMirror, …) would otherwise be named after
        // whichever module the bundler met first in it.
        chunkFileNames: (chunk) => `assets/${chunk.isDynamicEntry ? chunk.name : 'shared'}-[hash].js`
      }
    }
  },
  server: {
    proxy: {
      '/ws': { target: server.replace(/^http/, 'ws'), ws: true },
      // The Tiptap page (`/?provider=hocuspocus`).
      '/hocuspocus': { target: server.replace(/^http/, 'ws'), ws: true },
      '/api': server,
      '/healthz': server
    }
  }
})
