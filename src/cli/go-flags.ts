// The original hyperctl is a Go program: its flags are single-dash long names
// (`-vm`, `-output`, `-id`). Commander reads `-vm` as `-v -m`, so such tokens are
// rewritten to `--vm` before parsing — only for names the CLI defines, so values
// that start with a dash are left alone.
export function normaliseGoFlags(argv: readonly string[], longNames: ReadonlySet<string>): string[] {
  const out: string[] = [];
  let passthrough = false;
  for (const arg of argv) {
    if (passthrough || arg === '--') {
      passthrough = true;
      out.push(arg);
      continue;
    }
    const match = /^-([A-Za-z][A-Za-z0-9-]+)(=.*)?$/.exec(arg);
    out.push(match && longNames.has(match[1]!) ? `--${match[1]}${match[2] ?? ''}` : arg);
  }
  return out;
}
