// hyperexport: export VMs to OVF/OVA, for people. Pick VMs interactively (when
// run in a terminal without -vm) or name them with -vm / -batch; watch per-disk
// progress; Ctrl-C cancels what it started. Through the daemon (hypervisord) when
// one answers, otherwise (or with -standalone) with an in-process worker, as the
// original hyperexport exported by itself. Resolves to an exit code; only
// bin/hyperexport.js ends the process.
import type { ExportFormat } from '../core/export-contract.js';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { safeFileName } from '../config/output-path.js';
import { VERSION } from '../api/version.js';
import { CliError } from './daemon-client.js';
import { ExitCode } from './exit-codes.js';
import { formatBytes } from './format.js';
import { GoFlagError, goFlagSpec, normaliseGoFlags } from './go-flags.js';
import type { ExportBackend, ExportRequest, VmRow } from './hyperexport/backend.js';
import { chooseInteractively, type Prompts } from './hyperexport/interactive.js';
import { planExport, renderPlan } from './hyperexport/plan.js';
import { openBackend } from './hyperexport/open-backend.js';
import { afterExport, PostExportError } from './hyperexport/post-export.js';
import type { RunOutcome } from './hyperexport/run.js';
import { exitCodeOf, jsonReport, runExports, summarise, summariseQuietly } from './hyperexport/run.js';
import { narrowVms, parseVmFilter, readBatchFile, type VmFilter } from './hyperexport/selection.js';
import { DEFAULT_DAEMON_URL } from './commands/shared.js';
import {
  AWS_PROFILE_HELP,
  awsProfileToSend,
  KEEP_SNAPSHOTS_HELP,
  providerOption,
  REGION_HELP,
  refuseForeignFlags,
  regionToSend,
  azureSourceToSend,
  RESOURCE_GROUP_HELP,
  SUBSCRIPTION_HELP,
  SINCE_SNAPSHOT_HELP,
  sinceSnapshotToSend,
  type Provider,
} from './commands/provider-flags.js';
import type { CloudSourceFlags } from './hyperexport/backend.js';
import { processIo, type CliIo } from './io.js';

export interface HyperexportOptions {
  vm?: string[];
  output?: string;
  format?: ExportFormat;
  method?: 'auto' | 'ovf' | 'datastore';
  snapshot?: boolean;
  powerOff?: boolean;
  parallel?: number;
  removeCdrom?: boolean;
  dryRun?: boolean;
  json?: boolean;
  daemon?: string;
  /** The original's name for -daemon; folded into `daemon` after parsing. */
  daemonUrl?: string;
  useDaemon?: boolean;
  provider?: Provider;
  region?: string;
  awsProfile?: string;
  keepSnapshots?: boolean;
  sinceSnapshot?: string;
  interactive?: boolean;
  tui?: boolean;
  resume?: boolean;
  token?: string;
  standalone?: boolean;
  config?: string;
  profile?: string;
  interval: number;
  compress?: boolean;
  verify?: boolean;
  batch?: string;
  quiet?: boolean;
  version?: boolean;
  folder?: string;
  filter?: string;
}

export interface HyperexportDeps {
  io?: CliIo;
  /** Both stdin and stdout are terminals: interactive selection is possible. */
  interactive?: boolean;
  columns?: number;
  /** Prompt functions (default: @inquirer/prompts). */
  prompts?: Prompts;
  /** Subscribes to Ctrl-C; returns the unsubscribe function (default: process SIGINT). */
  onInterrupt?: (handler: () => void) => () => void;
}

const USAGE = 'Usage: hyperexport [-vm <path>...] [-output <dir>] [options]   (hyperexport --help lists them all)';

const EXIT_CODES = `
Exit codes:
  0  every export completed (-dry-run: every VM was found)
  1  an export failed or was refused, a VM was not found, or -verify / -compress failed
  2  usage error (unknown flag, bad value, no -vm outside a terminal, unreadable -batch file)
  3  the -daemon named is unreachable; or no daemon answers and the export cannot run
     here either (no GOVC_* credentials, no cloud region or subscription; vCenter, the
     cloud or Temporal unreachable)
  4  authentication failed (-token / HYPERSDK_API_TOKEN, or the vCenter or cloud credentials)
  130  interrupted with Ctrl-C (the exports this run started are cancelled)
`;

const EXAMPLES = `
Examples:
  hyperexport                                   pick VMs interactively (in a terminal)
  hyperexport -vm /DC0/vm/web01 -output /var/lib/hypersdk/exports/web01
  hyperexport -vm /DC0/vm/a,/DC0/vm/b -format ova -snapshot
  hyperexport -vm web01 -dry-run                show disks, sizes and files; export nothing
  hyperexport -batch vms.txt -output ./out -quiet
                                                one VM per line ('#' comments); script-friendly output
  hyperexport -vm web01 -format ova -compress -verify -output ./out
                                                ./out/web01.ova.gz, checked against the manifest
  hyperexport -standalone -vm web01 -output ./out
                                                no daemon: GOVC_URL/GOVC_USERNAME/GOVC_PASSWORD,
                                                an embedded Temporal unless TEMPORAL_ADDRESS is set
  hyperexport -provider aws -region eu-west-1 -vm i-0123456789abcdef0 -format raw
                                                an EC2 instance (or its Name tag, vol-..., snap-...)
                                                read with the AWS credentials of the daemon, or of
                                                this process when no daemon answers (or -standalone);
                                                -keep-snapshots keeps its EBS snapshots
  hyperexport -provider aws -vm i-0123456789abcdef0 -output ./out -since-snapshot vol-0aaa=snap-0bbb
                                                incremental: only the blocks changed since the snapshot
                                                an earlier export to ./out kept (its kept snapshot)
  hyperexport -provider azure -vm web-01 -resource-group rg-prod -subscription <id> -format qcow2
                                                an Azure VM (or its resource id as -vm), read from
                                                snapshots of its managed disks by the daemon or this
                                                process; -keep-snapshots keeps them (access revoked)

Daemon or not: hyperexport asks the daemon (-daemon, else HYPERVISOR_URL, HYPERVISORD_URL,
HYPERSDK_DAEMON_URL, DAEMON_ADDR, else ${DEFAULT_DAEMON_URL}). When nothing answers there
(connection refused, unknown host, no answer in 3 s) it says so on one line and exports
in this process, as with -standalone (GOVC_* credentials needed; with -provider aws or
azure this process's AWS or Azure credentials and region or subscription). A daemon that answers
with an error (401, 5xx) is never bypassed. A URL given with -daemon is never bypassed
either: if it does not answer, hyperexport stops with exit 3.

Flags take one dash or two: -vm x == --vm x; switches take Go's -quiet=true|false.
With several VMs, each goes to <output>/<vm name>. Ctrl-C cancels the exports this run
started (exit 130). -verify and -compress read the exported files after the job, so the
output directory must be readable here (standalone, or a daemon on this machine).
Environment: HYPERVISOR_URL (daemon), HYPERSDK_API_TOKEN; standalone: GOVC_* (vSphere), the
AWS_* or AZURE_* credential variables (-provider aws or azure), TEMPORAL_ADDRESS.
`;

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 32) throw new InvalidArgumentError('must be an integer from 1 to 32');
  return n;
}

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0.1 || n > 60) throw new InvalidArgumentError('must be a number of seconds from 0.1 to 60');
  return n;
}

function collectVms(value: string, previous: string[] | undefined): string[] {
  const added = value.split(',').map((v) => v.trim()).filter(Boolean);
  if (added.length === 0) throw new InvalidArgumentError('must name a VM');
  return [...(previous ?? []), ...added];
}

export function buildHyperexport(io: CliIo): Command {
  const program = new Command('hyperexport')
    .description('Export VMware VMs to OVF/OVA (or AWS EC2 instances and Azure VMs to raw/qcow2 images, -provider aws or azure) with live progress: interactively, or with -vm.')
    .option('--vm <path>', 'VM inventory path, name, moref or UUID (repeatable, or a comma list)', collectVms)
    .option('--output <dir>', 'output directory (relative paths: from the current directory)')
    .addOption(new Option('--format <format>', 'what to produce: ovf or ova (the source disks as VMDK; from AWS, as qcow2), raw, qcow2 or vhd (KVM-ready images written in one pass; vhd: a fixed VHD, as Azure serves a disk)').choices(['ovf', 'ova', 'raw', 'qcow2', 'vhd']))
    .addOption(new Option('--method <method>', 'export method').choices(['auto', 'ovf', 'datastore']))
    .option('--snapshot', 'powered-on VMs: export a snapshot (the VM keeps running)')
    .option('--power-off', 'powered-on VMs: shut them down before exporting')
    .option('--parallel <n>', 'parallel disk downloads per VM', positiveInt)
    .option('--remove-cdrom', 'leave CD-ROM drives out of the OVF')
    .option('--dry-run', 'print what would be exported (disks, sizes, files) and exit')
    .option('--json', 'machine-readable JSON output (no progress bars)')
    .option('--daemon <url>', `daemon URL (env HYPERVISOR_URL, default ${DEFAULT_DAEMON_URL})`)
    .option('--token <token>', 'API token (env HYPERSDK_API_TOKEN)')
    .option('--standalone', 'export in this process even if a daemon answers (an in-process worker)')
    .option('--config <file>', '-standalone: configuration file (YAML, as hypervisord reads)')
    .option('--profile <name>', 'vCenter profile of the configuration (-provider aws: -aws-profile)')
    .option('--interval <seconds>', 'progress poll interval', seconds, 1)
    .option('--batch <file>', 'export the VMs listed in a file, one per line (blank lines and # comments skipped); adds to -vm')
    .option('--folder <path>', 'interactive list: only VMs whose inventory path contains this (e.g. /DC0/vm/prod)')
    .option('--filter <key=value>', 'interactive list: only VMs whose property equals the value; keys name, path, power_state (on|off), guest_os, num_cpu, memory_mb')
    .option('--compress', 'pack into a gzip-compressed OVA, <name>.ova.gz (implies -format ova)')
    .option('--verify', 'after the export, re-read every file, check its SHA-256 against the manifest and write checksums.txt')
    .option('--quiet', "no progress or notes: errors, one 'success: <vm> exported to <dir> (<size>)' line per VM (and 'batch-summary: ...' with -batch); the one line saying no daemon answered stays")
    .option('--version', 'print the version and exit')
    // The original hyperexport's spellings of what hyperexport already does.
    .option('--daemon-url <url>', "the original's name for -daemon")
    .option('--use-daemon', 'export through the daemon or not at all: no export in this process when none answers')
    .addOption(providerOption())
    .option('--region <name>', REGION_HELP)
    .option('--aws-profile <name>', AWS_PROFILE_HELP)
    .option('--keep-snapshots', KEEP_SNAPSHOTS_HELP)
    .option('--since-snapshot <snapshots>', SINCE_SNAPSHOT_HELP)
    .option('--subscription <id>', SUBSCRIPTION_HELP)
    .option('--resource-group <name>', RESOURCE_GROUP_HELP)
    .option('--interactive', 'pick VMs interactively (the default in a terminal without -vm); needs a terminal')
    .option('--tui', 'the same as -interactive')
    .option('--resume', 'accepted for the original\'s scripts: every export resumes by itself after an interruption')
    .allowExcessArguments(false)
    .addHelpText('after', EXAMPLES + EXIT_CODES)
    .exitOverride()
    .showHelpAfterError(USAGE);
  program.configureOutput({ writeOut: io.out, writeErr: io.err });
  return program;
}

/** -daemon-url (the original's name) is -daemon; both, naming different daemons, is a usage error. */
function withDaemonUrl(options: HyperexportOptions): HyperexportOptions {
  const { daemonUrl, ...rest } = options;
  if (daemonUrl === undefined) return rest;
  if (rest.daemon !== undefined && rest.daemon !== daemonUrl) {
    throw new CliError(`-daemon ${rest.daemon} and -daemon-url ${daemonUrl} name two daemons: give one`, ExitCode.Usage);
  }
  return { ...rest, daemon: daemonUrl };
}

async function inquirerPrompts(): Promise<Prompts> {
  const inquirer = await import('@inquirer/prompts');
  return {
    checkbox: (config) => inquirer.checkbox(config),
    select: (config) => inquirer.select(config),
    input: (config) => inquirer.input(config),
    confirm: (config) => inquirer.confirm(config),
  };
}

function processInterrupt(handler: () => void): () => void {
  process.on('SIGINT', handler);
  return () => process.off('SIGINT', handler);
}

/** Where a VM's files go: <output> for one VM, <output>/<vm name> for several. */
function outputFor(output: string | undefined, vmPath: string, many: boolean): string | undefined {
  if (output === undefined) return undefined;
  const vmName = safeFileName(vmPath.split('/').filter(Boolean).pop() ?? vmPath);
  // An S3 URL is not a path of this machine: never resolve it against the working directory.
  if (output.startsWith('s3://')) return many ? `${output.replace(/\/+$/, '')}/${vmName}` : output;
  const base = resolve(output);
  if (!many) return base;
  return resolve(base, vmName);
}

function requestFor(vmPath: string, options: HyperexportOptions, output: string | undefined): ExportRequest {
  const leaf = vmPath.split('/').filter(Boolean).pop() ?? vmPath;
  const id = `hyperexport-${safeFileName(leaf).slice(0, 80)}-${randomBytes(4).toString('hex')}`;
  return {
    id,
    name: leaf,
    vm_path: vmPath,
    ...(output !== undefined ? { output_path: output } : {}),
    ...(options.format ? { format: options.format } : {}),
    ...(options.method ? { export_method: options.method } : {}),
    options: {
      ...(options.parallel !== undefined ? { parallel_downloads: options.parallel } : {}),
      ...(options.removeCdrom ? { remove_cdrom: true } : {}),
      ...(options.snapshot ? { snapshot: true } : {}),
      ...(options.powerOff ? { power_off: true } : {}),
      ...(options.keepSnapshots ? { keep_snapshots: true } : {}),
      ...(options.sinceSnapshot !== undefined ? { since_snapshot: options.sinceSnapshot } : {}),
    },
  };
}

async function dryRun(backend: ExportBackend, vms: readonly string[], options: HyperexportOptions, io: CliIo): Promise<number> {
  const plans = [];
  const errors: string[] = [];
  for (const vm of vms) {
    try {
      const info = await backend.describeVm(vm);
      const outputDir = outputFor(options.output, vm, vms.length > 1);
      plans.push(
        planExport(info, {
          // The daemon's default: qcow2 for AWS (unless its defaults.format is raw), ovf otherwise.
          format: options.format ?? (options.provider === 'aws' || options.provider === 'azure' ? 'qcow2' : 'ovf'),
          method: options.method ?? 'auto',
          snapshot: options.snapshot ?? false,
          powerOff: options.powerOff ?? false,
          removeCdrom: options.removeCdrom ?? false,
          ...(outputDir ? { outputDir } : {}),
        }),
      );
    } catch (err) {
      if (err instanceof CliError && err.exitCode !== ExitCode.Failed) throw err;
      errors.push(`${vm}: ${(err as Error).message}`);
    }
  }
  if (options.json) io.out(`${JSON.stringify({ dry_run: true, exports: plans, errors }, null, 2)}\n`);
  else {
    io.out(`Dry run through ${backend.label}: nothing will be exported.\n`);
    for (const plan of plans) io.out(renderPlan(plan));
    for (const e of errors) io.err(`✖ ${e}\n`);
    const total = plans.reduce((n, p) => n + p.total_bytes, 0);
    io.out(`${plans.length} VM(s), ${plans.reduce((n, p) => n + p.disks.length, 0)} disk(s), ${formatBytes(total)} (${total} bytes) in total\n`);
  }
  return errors.length ? ExitCode.Failed : ExitCode.Ok;
}

/** -verify / -compress on every completed export; a failure is that export's, the others still run. */
async function postExport(outcome: RunOutcome, options: HyperexportOptions, io: CliIo): Promise<void> {
  if (!options.verify && !options.compress) return;
  for (const e of outcome.exports) {
    const result = e.job?.status === 'completed' ? e.job.result : undefined;
    if (!result) continue;
    if (!options.quiet && !options.json) io.err(`${options.verify ? 'Verifying' : 'Compressing'} ${e.vmPath}...\n`);
    try {
      e.post = await afterExport(result, { verify: options.verify ?? false, compress: options.compress ?? false });
    } catch (err) {
      if (!(err instanceof PostExportError)) throw err;
      e.postError = err.message;
    }
  }
}

/**
 * -provider aws or azure, checked before anything is opened: what a cloud export
 * cannot do is a usage error naming the flag. Resolves to where the daemon reads
 * (AWS: -region, else AWS_REGION / AWS_DEFAULT_REGION here, else the daemon's;
 * Azure: -subscription, else AZURE_SUBSCRIPTION_ID here, else the daemon's, and
 * -resource-group), or undefined for vSphere.
 */
function cloudFlagsOf(options: HyperexportOptions, env: NodeJS.ProcessEnv): CloudSourceFlags | undefined {
  refuseForeignFlags(options);
  const provider = options.provider;
  if (provider !== 'aws' && provider !== 'azure') return undefined;
  const refuse = (message: string) => new CliError(message, ExitCode.Usage);
  if (options.method !== undefined && options.method !== 'auto') {
    const how = provider === 'aws' ? 'an AWS export always reads EBS snapshot blocks' : 'an Azure export always reads the pages of managed-disk snapshots';
    throw refuse(`-method ${options.method} is a vSphere export method; ${how}: leave out -method`);
  }
  if (provider === 'azure') {
    if (options.profile !== undefined) throw refuse("-profile names a vCenter profile; an Azure export uses the daemon's Azure credentials: leave out -profile");
    return { provider, fields: azureSourceToSend(options, env) };
  }
  if (options.profile !== undefined) throw refuse("-profile names a vCenter profile; for a profile of the daemon's shared AWS config give -aws-profile");
  sinceSnapshotToSend(options.sinceSnapshot);
  const region = regionToSend(options.region, env);
  const profile = awsProfileToSend(options.awsProfile);
  return { provider, fields: { ...(region ? { region } : {}), ...(profile ? { profile } : {}) } };
}

/** What a standalone run reads with, by provider (for hints). */
const STANDALONE_CREDENTIALS = {
  vsphere: 'GOVC_URL, GOVC_USERNAME, GOVC_PASSWORD',
  aws: "this process's AWS credentials and AWS_REGION",
  azure: "this process's Azure credentials and AZURE_SUBSCRIPTION_ID",
} as const;

/** Checks that need no daemon or vCenter; resolves to the options with what the flags imply. */
function settle(options: HyperexportOptions): HyperexportOptions {
  if (options.compress && options.format !== undefined && options.format !== 'ova') {
    throw new CliError(`-compress packs the export into a gzip-compressed OVA (<name>.ova.gz); leave out -format ${options.format}, or -compress`, ExitCode.Usage);
  }
  if ((options.verify || options.compress) && options.output?.startsWith('s3://')) {
    throw new CliError(`${options.verify ? '-verify' : '-compress'} reads the exported files on this machine: give a local -output directory, not ${options.output}`, ExitCode.Usage);
  }
  return options.compress ? { ...options, format: 'ova' } : options;
}

async function main(given: HyperexportOptions, io: CliIo, deps: HyperexportDeps): Promise<number> {
  if (given.version) {
    io.out(`hyperexport version ${VERSION}\n`);
    return ExitCode.Ok;
  }
  const cloud = cloudFlagsOf(given, io.env);
  const options = settle(given);
  const named = [...(options.vm ?? []), ...(options.batch !== undefined ? await readBatchFile(options.batch) : [])];
  const filter: VmFilter | undefined = options.filter !== undefined ? parseVmFilter(options.filter) : undefined;
  const terminal = deps.interactive ?? (Boolean(process.stdin.isTTY) && Boolean(process.stdout.isTTY));
  const asked = options.interactive ? '-interactive' : options.tui ? '-tui' : undefined;
  if (asked && named.length > 0) throw new CliError(`${asked} picks the VMs in a menu; with -vm or -batch they are already named: leave one out`, ExitCode.Usage);
  if (asked && (!terminal || options.json)) throw new CliError(`${asked} needs a terminal (stdin and stdout) and no -json; name the VMs with -vm or -batch instead`, ExitCode.Usage);
  const interactive = named.length === 0 && !options.json && terminal;
  if (named.length === 0 && !interactive) {
    throw new CliError('give -vm <path> (repeatable or comma-separated) or -batch <file>, or run hyperexport in a terminal to pick VMs interactively', ExitCode.Usage);
  }
  if (named.length > 0 && (options.folder !== undefined || filter)) {
    throw new CliError(`${options.folder !== undefined ? '-folder' : '-filter'} narrows the interactive list; with -vm or -batch the VMs are already named (leave it out, or run without -vm in a terminal)`, ExitCode.Usage);
  }
  if (options.sinceSnapshot !== undefined && named.length !== 1) {
    throw new CliError(
      `-since-snapshot names the earlier snapshots of one instance's disks: give it with one -vm${named.length > 1 ? `, not ${named.length}` : ''} (the one whose earlier export kept them)`,
      ExitCode.Usage,
    );
  }
  if (options.snapshot && options.powerOff) throw new CliError('-snapshot and -power-off exclude each other: pick one', ExitCode.Usage);
  if (options.standalone && options.useDaemon) throw new CliError('-standalone exports in this process and -use-daemon only through the daemon: pick one', ExitCode.Usage);
  if (options.config && !options.standalone) throw new CliError('-config is read in -standalone mode only (the daemon has its own)', ExitCode.Usage);

  const silent = Boolean(options.json || options.quiet);
  const backend = await openBackend({ ...options, ...(cloud ? { cloud } : {}), silent }, io);
  const interrupt = new AbortController();
  const force = new AbortController();
  const unsubscribe = (deps.onInterrupt ?? processInterrupt)(() => (interrupt.signal.aborted ? force.abort() : interrupt.abort()));
  try {
    let vms = named;
    let effective = options;
    if (interactive) {
      if (!io.isTty && !silent) io.err(`Discovering VMs through ${backend.label}...\n`);
      const all: VmRow[] = await backend.listVms();
      if (all.length === 0) throw new CliError(`${backend.label} sees no VMs`, ExitCode.Failed);
      const found = narrowVms(all, options.folder, filter);
      if (found.length === 0) {
        const by = [options.folder !== undefined ? `-folder ${options.folder}` : '', options.filter !== undefined ? `-filter ${options.filter}` : ''].filter(Boolean).join(' ');
        throw new CliError(`none of the ${all.length} VM(s) ${backend.label} sees match ${by}`, ExitCode.Failed);
      }
      const prompts = deps.prompts ?? (await inquirerPrompts());
      let selection;
      try {
        selection = await chooseInteractively(
          found,
          {
            ...(options.format ? { format: options.format } : {}),
            ...(options.output !== undefined ? { output: options.output } : {}),
            snapshot: options.snapshot ?? false,
            powerOff: options.powerOff ?? false,
            removeCdrom: options.removeCdrom ?? false,
            // Also when no daemon answered and the export runs here.
            outputRequired: !backend.picksOutput,
            ...(cloud ? { provider: cloud.provider } : {}),
          },
          prompts,
        );
      } catch (err) {
        // Ctrl-C inside a prompt (inquirer's ExitPromptError): nothing was started.
        if ((err as Error).name === 'ExitPromptError' || (err as Error).name === 'AbortPromptError') return 130;
        throw err;
      }
      if (!selection) {
        io.err('Nothing exported.\n');
        return ExitCode.Ok;
      }
      vms = selection.vms.map((vm) => vm.path);
      effective = {
        ...options,
        format: selection.format,
        snapshot: selection.snapshot,
        powerOff: selection.powerOff,
        removeCdrom: selection.removeCdrom,
        ...(selection.output !== undefined ? { output: selection.output } : {}),
      };
    }
    if (effective.dryRun) return await dryRun(backend, vms, effective, io);

    const many = vms.length > 1;
    const requests = vms.map((vm) => requestFor(vm, effective, outputFor(effective.output, vm, many)));
    if (!silent) io.err(`Exporting ${vms.length} VM(s) through ${backend.label}. Ctrl-C cancels.\n`);
    const outcome = await runExports(backend, requests, {
      io,
      json: effective.json ?? false,
      quiet: effective.quiet ?? false,
      intervalMs: effective.interval * 1000,
      ...(deps.columns ? { columns: deps.columns } : {}),
      interrupt: interrupt.signal,
      force: force.signal,
    });
    if (!outcome.interrupted) await postExport(outcome, effective, io);
    if (effective.json) io.out(`${JSON.stringify(jsonReport(outcome), null, 2)}\n`);
    else if (effective.quiet) summariseQuietly(outcome, io, effective.batch !== undefined);
    else summarise(outcome, io);
    return exitCodeOf(outcome);
  } finally {
    unsubscribe();
    await backend.close();
  }
}

/** Runs hyperexport with the arguments after the program name; resolves to the exit code. */
export async function runHyperexport(args: readonly string[], deps: HyperexportDeps = {}): Promise<number> {
  const io = deps.io ?? processIo();
  const program = buildHyperexport(io);
  let options: HyperexportOptions;
  try {
    program.parse(normaliseGoFlags(args, goFlagSpec(program)), { from: 'user' });
    options = withDaemonUrl(program.opts<HyperexportOptions>());
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version' ? ExitCode.Ok : ExitCode.Usage;
    }
    if (err instanceof CliError || err instanceof GoFlagError) {
      io.err(`hyperexport: ${err.message}\n${USAGE}\n`);
      return err instanceof CliError ? err.exitCode : ExitCode.Usage;
    }
    throw err;
  }
  try {
    return await main(options, io, { columns: process.stdout.columns, ...deps });
  } catch (err) {
    if (err instanceof CliError) {
      io.err(`hyperexport: ${err.message}\n`);
      if (err.exitCode === ExitCode.Usage) io.err(`${USAGE}\n`);
      if (err.exitCode === ExitCode.Unreachable && options.daemon !== undefined && /^cannot reach the daemon/.test(err.message)) {
        const credentials = STANDALONE_CREDENTIALS[options.provider === 'aws' || options.provider === 'azure' ? options.provider : 'vsphere'];
        io.err(`hint: -daemon names a daemon, so hyperexport does not export without it: start 'hypervisord' there, leave out -daemon to export here when no daemon answers, or pass -standalone (uses ${credentials})\n`);
      }
      return err.exitCode;
    }
    io.err(`hyperexport: unexpected error: ${(err as Error).message}\n`);
    return ExitCode.Failed;
  }
}
