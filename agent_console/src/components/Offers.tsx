import { t } from "../i18n";
import { useClock, type StoreProps } from "./App";

export function OfferBar({ store }: StoreProps) {
  const offers = store.offers;
  useClock(offers.length ? 250 : 5000);
  if (!offers.length) return null;
  return (
    <section class="offers" aria-label={t("offer.title")}>
      {offers.map((c) => {
        const left = Math.max(0, Math.ceil((c.offerExpires - store.now()) / 1000));
        const total = c.offerTotal || 20;
        const first = c.msgs.find((m) => m.from && m.from.role === "visitor");
        return (
          <div class="offer" role="alertdialog" aria-labelledby={`offer-${c.id}`} key={c.id}
            data-testid="offer" data-chat={c.id}>
            <div class="offer-pulse" aria-hidden="true" />
            <div class="offer-main">
              <div class="offer-title" id={`offer-${c.id}`}>
                {t("offer.title")}: <bdi class="offer-name">{c.visitorName || t("visitor.anonymous")}</bdi>
              </div>
              <div class="offer-meta">
                {t("chat.topic")}: <bdi>{c.info.topic}</bdi>
                {c.visitor.page ? <> · <bdi class="ltr-text">{c.visitor.page}</bdi></> : null}
              </div>
              {first && <div class="offer-preview"><bdi>{first.text}</bdi></div>}
            </div>
            <div class="countdown" aria-label={t("offer.expires", { s: left })} data-testid="countdown">
              <svg viewBox="0 0 36 36" width="44" height="44" aria-hidden="true">
                <circle cx="18" cy="18" r="15" class="ring-bg" />
                <circle cx="18" cy="18" r="15" class="ring" style={{
                  strokeDasharray: `${(94.2 * Math.min(left, total)) / total} 94.2`,
                }} />
              </svg>
              <span>{left}</span>
            </div>
            <div class="offer-actions">
              <button class="primary big" data-testid="accept" onClick={() => store.accept(c.id).catch(() => {})}>
                {t("offer.accept")} <kbd>Alt+A</kbd>
              </button>
              <button class="big" data-testid="decline" onClick={() => store.decline(c.id).catch(() => {})}>
                {t("offer.decline")} <kbd>Alt+D</kbd>
              </button>
            </div>
          </div>
        );
      })}
    </section>
  );
}
