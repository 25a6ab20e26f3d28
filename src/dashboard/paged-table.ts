import type { Page } from "@whatisup/client";
import { byId, fillTable } from "./dom.js";
import { describeFailure } from "./session.js";

type PagedTableOptions<Item> = {
  /** The ids of the table, its "nothing here" line, its error line and its "load more" button. */
  ids: { table: string; empty: string; error: string; more: string };
  fetchPage: (cursor: string | undefined) => Promise<Page<Item>>;
  row: (item: Item) => HTMLTableRowElement;
};

/** A table of a cursor-paginated listing: the first page on load, older ones on demand. */
export class PagedTable<Item> {
  private cursor: string | null = null;

  constructor(private readonly options: PagedTableOptions<Item>) {
    byId(options.ids.more).addEventListener("click", () => void this.load(true));
  }

  async load(more = false): Promise<void> {
    const { ids, fetchPage, row } = this.options;
    const error = byId(ids.error);
    const moreButton = byId<HTMLButtonElement>(ids.more);
    error.textContent = "";
    moreButton.disabled = true;
    try {
      const page = await fetchPage(more ? (this.cursor ?? undefined) : undefined);
      this.cursor = page.next_cursor;
      fillTable(ids.table, ids.empty, page.data.map(row), more);
      moreButton.hidden = this.cursor === null;
    } catch (failure) {
      if (!more) fillTable(ids.table, ids.empty, []);
      error.textContent = describeFailure(failure);
    } finally {
      moreButton.disabled = false;
    }
  }

  clear(): void {
    this.cursor = null;
    fillTable(this.options.ids.table, this.options.ids.empty, []);
    byId(this.options.ids.more).hidden = true;
    byId(this.options.ids.error).textContent = "";
  }
}
