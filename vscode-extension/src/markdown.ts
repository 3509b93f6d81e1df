// The small part of markdown the chat view renders: paragraphs, headings,
// lists, code fences, inline code, bold (`**`) and italics (`*`). The text
// is the model's, so every character of it is escaped first and the only
// tags in the output are the ones written here; links and raw HTML stay
// text.

/** `text` with the five characters HTML gives a meaning escaped. */
export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

const FENCE = /^\s*(`{3,}|~{3,})\s*([^\s`]*)/;
const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const BULLET = /^\s*[-*+]\s+(.*)$/;
const NUMBERED = /^\s*\d{1,9}[.)]\s+(.*)$/;

/**
 * `text` as HTML. A fence still open at the end (the answer is still
 * streaming) runs to the end.
 */
export function markdown(text: string): string {
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  const out: string[] = [];
  let paragraph: string[] = [];
  let list: { tag: "ul" | "ol"; items: string[] } | undefined;

  const flush = () => {
    if (paragraph.length > 0) {
      out.push(`<p>${paragraph.map(inline).join("<br>")}</p>`);
      paragraph = [];
    }
    if (list !== undefined) {
      out.push(`<${list.tag}>${list.items.map((item) => `<li>${inline(item)}</li>`).join("")}</${list.tag}>`);
      list = undefined;
    }
  };

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? "";
    const fence = FENCE.exec(line);
    if (fence !== null) {
      flush();
      const marker = fence[1] ?? "```";
      const code: string[] = [];
      i++;
      while (i < lines.length && !isClosingFence(lines[i] ?? "", marker)) {
        code.push(lines[i] ?? "");
        i++;
      }
      // A language name, and nothing after it that is not one.
      const language = /^[\w+#.-]*/.exec(fence[2] ?? "")?.[0] ?? "";
      const attribute = language === "" ? "" : ` class="language-${escapeHtml(language)}"`;
      out.push(`<pre><code${attribute}>${escapeHtml(code.join("\n"))}</code></pre>`);
      continue;
    }
    if (line.trim() === "") {
      flush();
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading !== null) {
      flush();
      // h1 and h2 would shout in a narrow side bar.
      const level = Math.min((heading[1] ?? "#").length + 2, 6);
      out.push(`<h${level}>${inline(heading[2] ?? "")}</h${level}>`);
      continue;
    }
    const bullet = BULLET.exec(line);
    const numbered = bullet === null ? NUMBERED.exec(line) : null;
    const item = bullet ?? numbered;
    if (item !== null) {
      const tag = bullet !== null ? "ul" : "ol";
      if (paragraph.length > 0 || (list !== undefined && list.tag !== tag)) {
        flush();
      }
      list ??= { tag, items: [] };
      list.items.push(item[1] ?? "");
      continue;
    }
    if (list !== undefined && /^\s/.test(line)) {
      // An item's next line.
      list.items[list.items.length - 1] += ` ${line.trim()}`;
      continue;
    }
    if (list !== undefined) {
      flush();
    }
    paragraph.push(line.trim());
  }
  flush();
  return out.join("\n");
}

function isClosingFence(line: string, marker: string): boolean {
  const trimmed = line.trim();
  return trimmed.length >= marker.length && trimmed === (marker[0] ?? "`").repeat(trimmed.length);
}

/** One line's inline code, bold and italics. */
export function inline(text: string): string {
  // Code spans first: nothing inside them is markup.
  return text
    .split(/(`+[^`]*?`+)/)
    .map((part, index) => {
      if (index % 2 === 1) {
        const ticks = /^`+/.exec(part)?.[0].length ?? 1;
        if (part.length > ticks * 2 && part.endsWith("`".repeat(ticks))) {
          return `<code>${escapeHtml(part.slice(ticks, part.length - ticks).trim())}</code>`;
        }
      }
      // Escaped first, so the tags added below are the only ones.
      return escapeHtml(part)
        .replace(/\*\*(?=\S)(.+?)\*\*/g, "<strong>$1</strong>")
        .replace(/(^|[^*\w])\*(?=\S)([^*]+?)\*(?![*\w])/g, "$1<em>$2</em>");
    })
    .join("");
}
