/**
 * Column values as the drivers return them: timestamps as Date (or ISO strings inside
 * to_jsonb), jsonb as values (or strings from some paths). One place converts them.
 */
export type Timestamp = Date | string

export const toDate = (value: Timestamp): Date => (value instanceof Date ? value : new Date(value))
export const toMaybeDate = (value: Timestamp | null | undefined): Date | null => (value === null || value === undefined ? null : toDate(value))
export const fromJson = <T>(value: unknown): T => (typeof value === 'string' ? JSON.parse(value) : value) as T
