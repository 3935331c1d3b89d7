import { useEffect, useState } from "preact/hooks";
import { t } from "../i18n";
import type { Store } from "../store";
import type { FileRef } from "../../../clients/protocol";

const IMAGE_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp"];

export function fileSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/** An attachment: an image is previewed, any other file is a download link.  Its URL is
 * signed and short-lived: asked for when shown, and again when clicked. */
export function FileView({ store, chatId, file }: { store: Store; chatId: string; file: FileRef }) {
  const image = IMAGE_TYPES.includes(file.type);
  const [url, setUrl] = useState<string | null>(null);
  useEffect(() => {
    if (!image) return;
    let live = true;
    void store.fileUrl(chatId, file.id).then((u) => live && setUrl(u));
    return () => {
      live = false;
    };
  }, [chatId, file.id]);
  const open = async (e: Event) => {
    e.preventDefault();
    const u = await store.fileUrl(chatId, file.id);
    if (u) window.open(u, "_blank", "noopener,noreferrer");
    else store.toast(t("file.failed"), "error");
  };
  if (image) {
    return (
      <a class="file" href={url || "#"} target="_blank" rel="noopener noreferrer" data-testid="file-image-link">
        {url && <img class="preview" src={url} alt={file.name} data-testid="file-image" />}
        <bdi class="small">{file.name}</bdi>
      </a>
    );
  }
  return (
    <a class="file" href="#" onClick={open} data-testid="file-link" title={t("file.download")}>
      ⬇ <bdi>{file.name}</bdi> <span class="muted small">({fileSize(file.size)})</span>
    </a>
  );
}
