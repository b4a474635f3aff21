/**
 * The API key, when the service has API_KEYS set: asked for in a modal dialog after a 401, kept in this tab's
 * session storage (gone when the tab closes, never in the URL or a cookie) and sent as X-API-Key.
 */
import { byId as element } from "../dom";

const STORAGE_KEY = "house-price.api-key";

export function storedApiKey(): string | undefined {
  try {
    return sessionStorage.getItem(STORAGE_KEY) ?? undefined;
  } catch {
    return undefined; // storage disabled: the key lives only as long as the request that asked for it
  }
}

let pending: Promise<boolean> | undefined;

/**
 * Shows the key dialog and resolves true once a key is stored, false when the person cancels. Concurrent
 * 401s share one dialog. `refused`: the stored key was just rejected, so it is dropped and the dialog says so.
 */
export function askForApiKey(refused: boolean): Promise<boolean> {
  if (refused) sessionStorage.removeItem(STORAGE_KEY);
  pending ??= new Promise<boolean>((resolve) => {
    const dialog = element<HTMLDialogElement>("api-key-dialog");
    const input = element<HTMLInputElement>("api-key");
    element("api-key-reason").textContent = refused
      ? "The service refused that key. Enter a valid API key."
      : "This service needs an API key (X-API-Key).";
    input.value = "";
    const done = (ok: boolean) => {
      dialog.removeEventListener("close", onClose);
      pending = undefined;
      resolve(ok);
    };
    const onClose = () => {
      const key = dialog.returnValue === "save" ? input.value.trim() : "";
      if (key) sessionStorage.setItem(STORAGE_KEY, key);
      done(key !== "");
    };
    dialog.addEventListener("close", onClose);
    dialog.returnValue = ""; // Escape closes without a value; a previous "save" must not linger
    dialog.showModal();
    input.focus();
  });
  return pending;
}
