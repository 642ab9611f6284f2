/**
 * ESLint: JavaScript's recommended rules and typescript-eslint's type-checked recommended rules
 * (types from tsconfig.json through the project service). Formatting is Prettier's business
 * (.prettierrc; `npm run lint` runs both, `npm run format` rewrites), so no stylistic rules here.
 * Every rule turned off or relaxed below says why.
 */
import js from '@eslint/js'
import { defineConfig, globalIgnores } from 'eslint/config'
import globals from 'globals'
import tseslint from 'typescript-eslint'

export default defineConfig(
  globalIgnores(['dist/', 'build/', 'coverage/', 'tmp/', '.data/']),

  { linterOptions: { reportUnusedDisableDirectives: 'error' } },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
      globals: globals.nodeBuiltin
    },
    rules: {
      // Relaxed: a leading underscore marks a binding that is there on purpose and unused, and
      // `const { dropped, ...rest } = value` is how a property is left out of a copy.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true }]
    }
  },

  // Plain JavaScript (scripts, bench helpers, configs) is outside tsconfig.json: no type information, so no type-checked rules.
  {
    files: ['**/*.{js,mjs,cjs}'],
    extends: [tseslint.configs.disableTypeChecked]
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: globals.node }
  },

  {
    files: ['__tests__/**/*.ts'],
    rules: {
      // Off in tests: they read untyped JSON (fastify's inject().json(), fetch's json(), JSON.parse of
      // logs and CLI output) and check it with expect(); the assertion is the check, and declaring a
      // type for every body a test pokes at would be noise. Source code (shared/, scripts/, bench/)
      // keeps all five.
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      // Off in tests: fakes of async interfaces (core.writeSummary, store.close, fetch, sleep...) are
      // written as `async` methods that need no await; Promise.resolve() wrappers would say the same less clearly.
      '@typescript-eslint/require-await': 'off'
    }
  },

  {
    files: ['shared/server/**/*.ts'],
    rules: {
      // Fastify plugins, hooks and handlers are async by contract (Fastify awaits what they
      // return, and a thrown error becomes a rejected promise it maps); many have nothing to await.
      '@typescript-eslint/require-await': 'off'
    }
  }
)
