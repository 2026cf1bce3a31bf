// What `ssd help`, `ssd <command> --help` and `ssd help --markdown` print, all made from the option
// table (cli/options.ts): a new option, or a changed default, shows up in every one of them.

import { COMMANDS, COMMON, CommandName, CommandSpec, OptionSpec, isCommandName, optionsOf } from './options';

export { COMMANDS, isCommandName };
export type { CommandName };

/** `--name VALUE`, as the option is written. */
function written(name: string, spec: OptionSpec, longestChoices = 40): string {
  const value = spec.kind === 'choice' && spec.choices !== undefined && spec.choices.join('|').length <= longestChoices ? spec.choices.join('|') : spec.value;
  return value === undefined ? `--${name}` : `--${name} ${value}`;
}

/** The default in words: "(required)", "(default 0.5)", or nothing. */
function defaultOf(spec: OptionSpec): string {
  if (spec.required === true) return 'required';
  if (spec.defaultText !== undefined) return `default: ${spec.defaultText}`;
  if (spec.default !== undefined) return `default ${spec.default}`;
  return '';
}

/** One option's help line, its name padded to `width`. */
function optionLine(name: string, spec: OptionSpec, width: number, longestChoices = 40): string {
  const d = defaultOf(spec);
  return `${written(name, spec, longestChoices).padEnd(width)}  ${spec.help}${d === '' ? '' : ` (${d})`}`;
}

/** `ssd help`: every command with the names of its options, wrapped at about 100 columns. */
export function overview(): string {
  const indent = ' '.repeat(20);
  const lines = ['usage: ssd <command> [options]   (ssd <command> --help: its options, defaults and examples)', '', 'commands:'];
  for (const help of Object.values(COMMANDS) as CommandSpec[]) {
    const [first, ...more] = help.summary.split('\n');
    lines.push(`  ${help.usage.padEnd(indent.length - 3)} ${first}`, ...more.map((line) => `${indent}${line}`));
    let line = indent;
    for (const [option, spec] of Object.entries(help.options)) {
      const word = spec.required === true ? written(option, spec) : `[${written(option, spec)}]`;
      if (line.length + word.length + 1 > 100 && line.trim() !== '') {
        lines.push(line.trimEnd());
        line = indent;
      }
      line += `${word} `;
    }
    if (line.trim() !== '') lines.push(line.trimEnd());
  }
  lines.push('', 'every command but bench:');
  for (const [option, spec] of Object.entries(COMMON)) lines.push(`  ${optionLine(option, spec, 0, Infinity)}`);
  return lines.join('\n');
}

/** `ssd <command> --help`: what it does, every option with its default, and examples. */
export function commandHelp(name: CommandName): string {
  const help: CommandSpec = COMMANDS[name];
  const options = Object.entries(optionsOf(name));
  const width = Math.min(32, Math.max(...options.map(([option, spec]) => written(option, spec, Infinity).length)));
  return [
    `usage: ssd ${help.usage} [options]`,
    '',
    help.summary,
    '',
    'options:',
    ...options.map(([option, spec]) => `  ${optionLine(option, spec, width, Infinity)}`),
    '',
    'examples:',
    ...help.examples.map((e) => `  ${e}`),
  ].join('\n');
}

/** `ssd help --markdown`: the README's command table (a test holds the README to it). */
export function markdownTable(): string {
  const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const lines = ['| command | what it does | options (default) |', '| --- | --- | --- |'];
  for (const help of Object.values(COMMANDS) as CommandSpec[]) {
    const options = Object.entries(help.options).map(([option, spec]) => {
      const d = defaultOf(spec);
      return `\`${written(option, spec)}\`${d === '' ? '' : ` (${d})`}`;
    });
    lines.push(`| \`ssd ${cell(help.usage)}\` | ${cell(help.summary)} | ${cell(options.join(', '))} |`);
  }
  const common = Object.entries(COMMON).map(([option, spec]) => `\`${written(option, spec)}\``).join(', ');
  lines.push('', `Every command but \`bench\` also takes ${cell(common)}; \`ssd <command> --help\` says what each option does.`);
  return lines.join('\n');
}
