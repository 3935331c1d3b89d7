import "./styles.css";
import { render } from "preact";
import { App } from "./components/App";
import { Store } from "./store";
import { initLanguage } from "./i18n";

initLanguage();
const store = new Store();
window.addEventListener("DOMContentLoaded", () => {
  render(<App store={store} />, document.getElementById("app")!);
  store.restore();
});
