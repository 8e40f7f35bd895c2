/**
 * Just enough of `sh` to follow a runcmd line: lists joined by `&&`, `||` and `;`, words with single and
 * double quotes and backslashes, and `>`/`>>` redirections. No expansions, pipes or subshells: a line the
 * simulation cannot follow is run as a command it does not model (which succeeds) and recorded as such.
 */

/** One simple command: its words, and where its output goes. */
export interface SimpleCommand {
  words: string[];
  redirect?: { path: string; append: boolean };
}

/** A command and how it is chained to the previous one. */
export interface ListItem {
  /** `;` (always run), `&&` (run if the previous succeeded), `||` (run if it failed). */
  after: ';' | '&&' | '||';
  command: SimpleCommand;
}

/** Splits a shell line into simple commands; throws when the quoting is unbalanced. */
export function parseShellLine(line: string): ListItem[] {
  const items: ListItem[] = [];
  let words: string[] = [];
  let word = '';
  let inWord = false;
  let redirect: SimpleCommand['redirect'];
  let pendingRedirect: boolean | undefined; // append?
  let after: ListItem['after'] = ';';
  const endWord = () => {
    if (!inWord) return;
    if (pendingRedirect !== undefined) {
      redirect = { path: word, append: pendingRedirect };
      pendingRedirect = undefined;
    } else {
      words.push(word);
    }
    word = '';
    inWord = false;
  };
  const endCommand = (next: ListItem['after']) => {
    endWord();
    if (words.length > 0 || redirect) items.push({ after, command: { words, ...(redirect ? { redirect } : {}) } });
    words = [];
    redirect = undefined;
    after = next;
  };
  for (let i = 0; i < line.length; i++) {
    const c = line[i] ?? '';
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end === -1) throw new Error(`unterminated ' in: ${line}`);
      word += line.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\' && ['"', '\\', '$', '`'].includes(line[j + 1] ?? '')) j++;
        word += line[j];
      }
      if (j >= line.length) throw new Error(`unterminated " in: ${line}`);
      inWord = true;
      i = j;
    } else if (c === '\\') {
      word += line[i + 1] ?? '';
      inWord = true;
      i++;
    } else if (c === ' ' || c === '\t' || c === '\n') {
      endWord();
    } else if (c === '&' && line[i + 1] === '&') {
      endCommand('&&');
      i++;
    } else if (c === '|' && line[i + 1] === '|') {
      endCommand('||');
      i++;
    } else if (c === ';') {
      endCommand(';');
    } else if (c === '>') {
      endWord();
      pendingRedirect = line[i + 1] === '>';
      if (pendingRedirect) i++;
    } else if (c === '#' && !inWord) {
      break;
    } else {
      word += c;
      inWord = true;
    }
  }
  endCommand(';');
  return items;
}
