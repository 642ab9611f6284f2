/**
 * JSON values in, JSON values out, the same in both storage modes: parameters travel as
 * PostgreSQL text (the server infers their types from the statement), results come back as
 * text with their type OIDs and are decoded here. Exact types stay exact: int8 and numeric are
 * strings (a JavaScript number would round them), NaN and Infinity keep their text form.
 */
import { parse as parseArrayLiteral } from 'postgres-array'

/** One statement's answer as the engine read it: text values and the columns' type OIDs. */
export interface RawResult {
  fields: { name: string; typeOid: number }[]
  rows: (string | null)[][]
  /** First word of the command tag: SELECT, INSERT, UPDATE, DELETE, MERGE, CREATE, ... */
  command: string
  /** The count of the command tag (rows inserted, updated, deleted or selected), when it has one. */
  rowCount: number | null
}

export interface StatementResult {
  columns: string[]
  rows: unknown[][]
  rowsRead: number
  rowsWritten: number
}

/** A JSON parameter as PostgreSQL text; null stays SQL NULL. */
export function encodeParam(value: unknown): string | null {
  if (value === null || value === undefined) return null
  if (typeof value === 'boolean') return value ? 'true' : 'false'
  if (typeof value === 'number' || typeof value === 'string') return String(value)
  if (Array.isArray(value)) return arrayLiteral(value)
  return JSON.stringify(value)
}

/** A JSON array as a PostgreSQL array literal: {1,2,"a \"b\"",NULL,{3,4}}. */
function arrayLiteral(values: unknown[]): string {
  const element = (value: unknown): string => {
    if (value === null || value === undefined) return 'NULL'
    if (Array.isArray(value)) return arrayLiteral(value)
    const text = typeof value === 'object' ? JSON.stringify(value) : typeof value === 'string' ? value : JSON.stringify(value)
    return `"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`
  }
  return `{${values.map(element).join(',')}}`
}

/** Type OIDs of pg_type (stable across PostgreSQL versions). */
const OID = {
  bool: 16,
  bytea: 17,
  int8: 20,
  int2: 21,
  int4: 23,
  oid: 26,
  json: 114,
  float4: 700,
  float8: 701,
  date: 1082,
  timestamp: 1114,
  timestamptz: 1184,
  numeric: 1700,
  jsonb: 3802
} as const

/** Array type OID → element type OID, for the element types decoded specially. */
const ARRAY_ELEMENT: Record<number, number> = {
  1000: OID.bool,
  1001: OID.bytea,
  1005: OID.int2,
  1007: OID.int4,
  1016: OID.int8,
  1021: OID.float4,
  1022: OID.float8,
  1028: OID.oid,
  199: OID.json,
  3807: OID.jsonb,
  1115: OID.timestamp,
  1185: OID.timestamptz,
  1182: OID.date,
  1231: OID.numeric,
  // Arrays of text-like types: elements stay strings.
  1009: 25,
  1014: 1042,
  1015: 1043,
  2951: 2950
}

/** `2024-01-02 03:04:05.123456+05:30` → `2024-01-02T03:04:05.123456+05:30` (UTC as Z). */
function isoTimestamp(text: string, withZone: boolean): string {
  const match = /^(\d{4,}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d+)?)([+-]\d{2}(?::?\d{2}){0,2})?$/.exec(text)
  if (!match) return text // infinity, BC dates, or a DateStyle the workspace set: its text form
  const [, date, time, zone] = match
  if (!withZone || zone === undefined) return `${date}T${time}`
  const [hours, minutes = '00', seconds] = zone.slice(1).split(':')
  if (/^0+$/.test(`${hours}${minutes}${seconds ?? ''}`)) return `${date}T${time}Z`
  return `${date}T${time}${zone[0]}${hours}:${minutes}${seconds ? `:${seconds}` : ''}`
}

function decodeScalar(text: string, typeOid: number): unknown {
  switch (typeOid) {
    case OID.bool:
      return text === 't' || text === 'true'
    case OID.int2:
    case OID.int4:
    case OID.oid:
      return Number(text)
    case OID.float4:
    case OID.float8: {
      const value = Number(text)
      return Number.isFinite(value) ? value : text
    }
    case OID.json:
    case OID.jsonb:
      return JSON.parse(text) as unknown
    case OID.bytea:
      return text.startsWith('\\x') ? Buffer.from(text.slice(2), 'hex').toString('base64') : text
    case OID.timestamp:
      return isoTimestamp(text, false)
    case OID.timestamptz:
      return isoTimestamp(text, true)
    default:
      return text // int8, numeric, text, uuid, date, interval, ...: the text form is exact
  }
}

/** One value of a result row as JSON. */
export function decodeValue(text: string | null, typeOid: number): unknown {
  if (text === null) return null
  const element = ARRAY_ELEMENT[typeOid]
  if (element !== undefined) return parseArrayLiteral(text, (value) => decodeScalar(value, element))
  return decodeScalar(text, typeOid)
}

/** Commands whose tag counts rows written. CREATE TABLE AS / SELECT INTO answer "SELECT n" without columns. */
const WRITING_COMMANDS = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE', 'COPY'])

export function toStatementResult(raw: RawResult): StatementResult {
  const types = raw.fields.map((f) => f.typeOid)
  const writes = WRITING_COMMANDS.has(raw.command) || (raw.command === 'SELECT' && raw.fields.length === 0)
  return {
    columns: raw.fields.map((f) => f.name),
    rows: raw.rows.map((row) => row.map((value, i) => decodeValue(value, types[i] ?? 25))),
    rowsRead: raw.rows.length,
    rowsWritten: writes ? (raw.rowCount ?? 0) : 0
  }
}

/** Bytes of the text values of a result (a cheap bound checked while reading, before decoding). */
export function rawBytes(rows: (string | null)[][]): number {
  let bytes = 0
  for (const row of rows) for (const value of row) bytes += value === null ? 4 : value.length + 3
  return bytes
}

/** The command tag's first word and its trailing count: "INSERT 0 3" → INSERT, 3. */
export function parseCommandTag(tag: string): { command: string; rowCount: number | null } {
  const words = tag.trim().split(/\s+/)
  const last = words[words.length - 1] ?? ''
  return { command: (words[0] ?? '').toUpperCase(), rowCount: /^\d+$/.test(last) ? Number(last) : null }
}
