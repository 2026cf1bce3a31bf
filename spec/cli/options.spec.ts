// The option table (cli/options.ts) drives parsing, the checks, every command's --help and the
// README's command table: each is held to it here.

import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { COMMANDS, CommandName, CommandSpec, OptionSpec, checkOption, optionsOf, parseCommandLine } from '../../cli/options';
import { commandHelp, markdownTable, overview } from '../../cli/help';
import { runSsd } from '../helpers/cli';

const NAMES = Object.keys(COMMANDS) as CommandName[];

/** A valid value of an option, from its table entry. */
function validValue(spec: OptionSpec): string {
  if (spec.example !== undefined) return spec.example;
  if (spec.default !== undefined) return String(spec.default);
  switch (spec.kind) {
    case 'choice':
      return (spec.choices ?? [])[0];
    case 'fraction':
      return '0.5';
    case 'integer':
      return String(spec.min ?? 0);
    default:
      return '1';
  }
}

describe('cli/options: one table of options', () => {
  it("every command's --help lists each of its options with its value, help text and default, and nothing else", () => {
    for (const name of NAMES) {
      const help = commandHelp(name);
      const lines = help.split('\n');
      const optionLines = lines.slice(lines.indexOf('options:') + 1, lines.indexOf('examples:') - 1);
      const options = Object.entries(optionsOf(name));
      expect(optionLines.length, `${name}: one line per option`).to.equal(options.length);
      for (const [option, spec] of options) {
        const line = optionLines.find((l) => l.trim().startsWith(`--${option} `) || l.trim() === `--${option}` || l.trim().startsWith(`--${option}  `));
        expect(line, `ssd ${name} --help: --${option}`).to.not.equal(undefined);
        expect(line).to.contain(spec.help);
        if (spec.required === true) expect(line).to.contain('(required)');
        else if (spec.defaultText !== undefined) expect(line).to.contain(spec.defaultText);
        else if (spec.default !== undefined) expect(line).to.contain(`(default ${spec.default})`);
      }
      const examples = lines.slice(lines.indexOf('examples:') + 1);
      expect(examples.length).to.equal((COMMANDS[name] as CommandSpec).examples.length);
    }
  });

  it('`ssd help` names every option of every command', () => {
    const text = overview();
    for (const name of NAMES) {
      for (const option of Object.keys((COMMANDS[name] as CommandSpec).options)) expect(text, `${name} --${option}`).to.contain(`--${option}`);
    }
  });

  it("the README's command table is `ssd help --markdown`, as it prints it now", () => {
    const readme = fs.readFileSync(path.join(__dirname, '../../../README.md'), 'utf8');
    const start = readme.indexOf('<!-- ssd help --markdown -->');
    const end = readme.indexOf('<!-- end of ssd help --markdown -->');
    expect(start, 'the README marks its command table').to.be.greaterThan(-1);
    expect(readme.slice(start, end).split('\n').slice(1).join('\n').trim(), 'regenerate with: node dist/cli/ssd.js help --markdown').to.equal(markdownTable());
    const r = runSsd(['help', '--markdown']);
    expect(r.status).to.equal(0);
    expect(r.stdout.trim()).to.equal(markdownTable());
  });

  it('each kind of value is checked, with the message naming the option and what it expected', () => {
    const cases: [OptionSpec, string, string][] = [
      [{ kind: 'count', help: '' }, '0', "--x: expected a positive integer, got '0'"],
      [{ kind: 'count', help: '' }, '1.5', "--x: expected a positive integer, got '1.5'"],
      [{ kind: 'integer', help: '' }, '0x10', "--x: expected an integer, got '0x10'"],
      [{ kind: 'integer', help: '', min: 0 }, '-1', "--x: expected a non-negative integer, got '-1'"],
      [{ kind: 'integer', help: '', min: 0, max: 16 }, '17', "--x: expected an integer from 0 to 16, got '17'"],
      [{ kind: 'positive', help: '' }, '1e400', "--x: expected a positive number, got '1e400'"],
      [{ kind: 'positive', help: '' }, 'nan', "--x: expected a positive number, got 'nan'"],
      [{ kind: 'number', help: '', min: 0 }, '-5', "--x: expected a non-negative number, got '-5'"],
      [{ kind: 'number', help: '' }, '', "--x: expected a number, got ''"],
      [{ kind: 'number', help: '' }, ' 7', "--x: expected a number, got ' 7'"],
      [{ kind: 'count', help: '' }, 'Infinity', "--x: expected a positive integer, got 'Infinity'"],
      [{ kind: 'fraction', help: '' }, '2', "--x: expected a number from 0 to 1, got '2'"],
      [{ kind: 'choice', help: '', choices: ['a', 'b'] }, 'c', "--x: expected one of a, b, got 'c'"],
      [{ kind: 'text', help: '' }, '', "--x: expected a value, got ''"],
    ];
    for (const [spec, raw, message] of cases) expect(() => checkOption('x', spec, raw), `${spec.kind} '${raw}'`).to.throw(message);
    // and the valid ones pass
    expect(() => checkOption('x', { kind: 'integer', help: '', min: 0, max: 16 }, '16')).to.not.throw();
    expect(() => checkOption('x', { kind: 'fraction', help: '' }, '1')).to.not.throw();
  });

  it('every default in the table passes its own check', () => {
    for (const name of NAMES) {
      for (const [option, spec] of Object.entries(optionsOf(name))) {
        if (spec.kind === 'flag') continue;
        expect(() => checkOption(option, spec, validValue(spec)), `ssd ${name} --${option} ${validValue(spec)}`).to.not.throw();
      }
    }
  });

  it('parsing: defaults from the table, an option of another command refused naming who takes it, required options and arguments counted', () => {
    const { options } = parseCommandLine('detect', ['--weights', 'w.safetensors', 'a.png']);
    expect(options.number('min-score')).to.equal(0.5);
    expect(options.number('top-k')).to.equal(200);
    expect(options.text('out')).to.equal('detections');
    expect(options.given('out')).to.equal(false);
    expect(() => parseCommandLine('eval', ['--weights', 'w', '--data', 'd', '--epochs', '3'])).to.throw('eval: unknown option --epochs (ssd train takes it)');
    expect(() => parseCommandLine('eval', ['--data', 'd'])).to.throw('eval: --weights is required');
    expect(() => parseCommandLine('summary', ['extra'])).to.throw("summary: unexpected argument 'extra'");
    expect(() => parseCommandLine('train', ['--data', 'd', '--batch', '-4'])).to.throw("--batch: expected a positive integer, got '-4'");
    // explain is parsed by the same table: its --min-score is a fraction like detect's
    expect(() => parseCommandLine('explain', ['detection', '--out', 'x.png', '--min-score', '2'])).to.throw("--min-score: expected a number from 0 to 1, got '2'");
    expect(parseCommandLine('explain', ['detection', '--out', 'x.png']).options.number('min-score')).to.equal(0.3);
  });

  it('`ssd explain --min-score 2` fails before drawing anything, as `ssd detect` does', () => {
    const r = runSsd(['explain', 'detection', '--min-score', '2', '--out', path.join(fs.mkdtempSync('/tmp/ssd-explain-'), 'x.png')]);
    expect(r.status).to.equal(1);
    expect(r.stderr).to.contain("ssd: --min-score: expected a number from 0 to 1, got '2'");
  });
});
