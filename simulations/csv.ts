// CSV of every point of a study, typed by the scenario's column list: numbers are written so that
// they read back bit for bit (shortest round-trip form), null as an empty cell.
import { EdgesplitError } from '../shared/errors.ts';
import type { Cell, Column, Row } from './types.ts';

function quote(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function cellText(v: Cell, column: Column, rowIndex: number): string {
  if (v === null || v === undefined) return '';
  if (column.type === 'number') {
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new EdgesplitError('ERR_INTERNAL', `row ${rowIndex}, column '${column.name}': expected a finite number or null, got ${JSON.stringify(v)}. The scenario produced a bad point; please report it.`);
    }
    return String(v);
  }
  if (typeof v !== 'string') {
    throw new EdgesplitError('ERR_INTERNAL', `row ${rowIndex}, column '${column.name}': expected a string or null, got ${JSON.stringify(v)}. The scenario produced a bad point; please report it.`);
  }
  return quote(v);
}

/** CSV text of rows in the columns' order; a row's field missing from the columns is an error. */
export function toCsv(rows: readonly Row[], columns: readonly Column[]): string {
  const names = new Set(columns.map((c) => c.name));
  const lines = [columns.map((c) => quote(c.name)).join(',')];
  rows.forEach((r, i) => {
    for (const k of Object.keys(r)) {
      if (!names.has(k)) throw new EdgesplitError('ERR_INTERNAL', `row ${i} has field '${k}', which is not among the declared columns (${[...names].join(', ')}). Declare the column in the scenario.`);
    }
    lines.push(columns.map((c) => cellText(r[c.name] ?? null, c, i)).join(','));
  });
  return lines.join('\n') + '\n';
}

/** Split CSV text into records of raw cells (RFC 4180 quoting). */
function parseRecords(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let cell = '';
  let inQuotes = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (inQuotes) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          cell += '"';
          i++;
        } else inQuotes = false;
      } else cell += ch;
    } else if (ch === '"') inQuotes = true;
    else if (ch === ',') {
      record.push(cell);
      cell = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      record.push(cell);
      records.push(record);
      record = [];
      cell = '';
    } else cell += ch;
  }
  if (cell !== '' || record.length > 0) {
    record.push(cell);
    records.push(record);
  }
  return records;
}

/**
 * Read CSV text written by `toCsv` back into typed rows. The header must hold exactly the declared
 * columns; a number column must hold numbers or empty cells. `source` names the file in errors.
 */
export function fromCsv(text: string, columns: readonly Column[], source: string): Row[] {
  const records = parseRecords(text);
  const header = records.shift();
  const expected = columns.map((c) => c.name);
  if (!header || header.join(',') !== expected.join(',')) {
    throw new EdgesplitError('ERR_CONFIG_INVALID', `${source}: expected the header '${expected.join(',')}', got '${header?.join(',') ?? '(empty file)'}'. Re-run 'edgesplit simulate' to write the CSV again.`, { details: { source } });
  }
  return records.map((rec, i) => {
    if (rec.length !== columns.length) {
      throw new EdgesplitError('ERR_CONFIG_INVALID', `${source}, line ${i + 2}: expected ${columns.length} cells, got ${rec.length}. The file was edited or truncated; re-run 'edgesplit simulate'.`, { details: { source, line: i + 2 } });
    }
    const row: Row = {};
    columns.forEach((c, j) => {
      const raw = rec[j]!;
      if (raw === '') row[c.name] = null;
      else if (c.type === 'number') {
        const n = Number(raw);
        if (!Number.isFinite(n)) {
          throw new EdgesplitError('ERR_CONFIG_INVALID', `${source}, line ${i + 2}, column '${c.name}': expected a number, got '${raw}'. Re-run 'edgesplit simulate' to write the CSV again.`, { details: { source, line: i + 2, column: c.name } });
        }
        row[c.name] = n;
      } else row[c.name] = raw;
    });
    return row;
  });
}
