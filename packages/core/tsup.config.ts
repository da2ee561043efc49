import { defineConfig } from "tsup"

export default defineConfig({
  entry: ["src/*.ts", "src/testing/*.ts"],
  format: ["esm"],
  dts: { compilerOptions: { composite: false } },
  tsconfig: "tsconfig.json",
  sourcemap: true,
  clean: true,
  target: "node20"
})
