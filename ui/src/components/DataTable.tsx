import type { ReactNode } from 'react';
import { Table, Tbody, Td, Th, Thead, Tr } from '@patternfly/react-table';

/** A column of a DataTable: its header (also the cell's label on narrow screens) and its cell. */
export interface Column<T> {
  title: string;
  cell: (row: T) => ReactNode;
}

export interface DataTableProps<T> {
  /** The table's accessible name. */
  label: string;
  columns: readonly Column<T>[];
  rows: readonly T[];
  rowKey: (row: T) => string;
  variant?: 'compact';
  /** A row spanning the table when there are no rows; none when undefined. */
  empty?: ReactNode;
}

/**
 * A read-only PatternFly table drawn from column definitions: the header row
 * from the titles, a row per item, each cell labelled by its column.
 */
export function DataTable<T>({ label, columns, rows, rowKey, variant, empty }: DataTableProps<T>) {
  return (
    <Table aria-label={label} variant={variant}>
      <Thead>
        <Tr>
          {columns.map((c) => (
            <Th key={c.title}>{c.title}</Th>
          ))}
        </Tr>
      </Thead>
      <Tbody>
        {rows.map((r) => (
          <Tr key={rowKey(r)}>
            {columns.map((c) => (
              <Td key={c.title} dataLabel={c.title}>
                {c.cell(r)}
              </Td>
            ))}
          </Tr>
        ))}
        {rows.length === 0 && empty !== undefined && (
          <Tr>
            <Td colSpan={columns.length}>{empty}</Td>
          </Tr>
        )}
      </Tbody>
    </Table>
  );
}
