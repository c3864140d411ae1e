// Perspective's light or dark theme, following the operating system.
const dark = globalThis.matchMedia("(prefers-color-scheme: dark)");

/** The Perspective theme for the current preference. */
export function themeName() {
  return dark.matches ? "Pro Dark" : "Pro Light";
}

/** Calls `apply(theme)` whenever the preference changes. */
export function onThemeChange(apply) {
  dark.addEventListener("change", () => apply(themeName()));
}
