import { byId } from "./dom.js";

/**
 * A modal `<dialog>` that hands the focus back, once closed, to the control that opened it, or,
 * when that control has left the page (its table reloaded behind the dialog), to `fallback`.
 * The focus moves in the `close` event, which comes a task after `close()`.
 */
export class Modal {
  readonly dialog: HTMLDialogElement;
  private opener: HTMLElement | null = null;

  constructor(
    id: string,
    private readonly fallback: () => HTMLElement,
    /** Runs as the dialog closes, however it closes (a button, Escape). */
    onClose: () => void = () => undefined,
  ) {
    this.dialog = byId<HTMLDialogElement>(id);
    this.dialog.addEventListener("close", () => {
      onClose();
      const target = this.opener?.isConnected ? this.opener : this.fallback();
      this.opener = null;
      target.focus();
    });
  }

  open(opener: HTMLElement, focus: HTMLElement): void {
    this.opener = opener;
    this.dialog.showModal();
    focus.focus();
  }

  /** `focus`: where the focus goes instead of the opener, e.g. when the opener's row is going away. */
  close(focus?: HTMLElement): void {
    if (focus) this.opener = focus;
    this.dialog.close();
  }
}
