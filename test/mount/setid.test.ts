/**
 * Set-user-ID and set-group-ID bits after writes, against kernel overlayfs on the same lower layer
 * (issue 17): a write, truncate, fallocate or copy_file_range into a file by a caller without
 * CAP_FSETID clears S_ISUID, and S_ISGID when the group-execute bit is set or the caller is not in
 * the file's group; a caller with CAP_FSETID keeps both. Checked on the mount (right after the
 * writes: the kernel's cached attributes must not hide the change) and in the upper layer, in
 * every data path: server opens with passthrough, served (with and without the writeback cache),
 * kernel opens (with and without it).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { MountOptions } from '../../lib/mount';
import { hasSetId, mayPassThrough, modeAfterChange, writerOf, type Writer } from '../../lib/mount/setid';
import { removeTree, tempDir } from '../helpers/layers';
import { withKernelOverlay } from '../helpers/kernel-overlay';
import { assertNoMountsUnder, ok, sh, withLayerfs } from '../helpers/layerfs-mount';

const LABEL = 'layerfs-setid-';
const PREFIX = path.join(os.tmpdir(), LABEL);
/** Not the pyenv shim on PATH: nobody may not be able to run that. */
const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
/** root whose programs lack CAP_FSETID (dropped from the bounding set, so exec cannot give it back) */
const ROOT_NO_FSETID = ['setpriv', '--bounding-set=-fsetid', '--inh-caps=-fsetid'];

/** Each argument `op:path` (path relative to the cwd); `cfr` copies from `src`. */
const OPS = `
import os, sys, mmap, ctypes
libc = ctypes.CDLL(None, use_errno=True)
def falloc(fd, mode, off, n):
    if libc.fallocate(fd, mode, ctypes.c_long(off), ctypes.c_long(n)) != 0:
        e = ctypes.get_errno(); raise OSError(e, os.strerror(e))
for arg in sys.argv[1:]:
    op, p = arg.split(':', 1)
    if op == 'write':
        fd = os.open(p, os.O_WRONLY); os.write(fd, b'x'); os.close(fd)
    elif op == 'pwrite':
        fd = os.open(p, os.O_WRONLY); os.pwrite(fd, b'x', 100); os.close(fd)
    elif op == 'append':
        fd = os.open(p, os.O_WRONLY | os.O_APPEND); os.write(fd, b'echo pwned\\n'); os.close(fd)
    elif op == 'writev':
        fd = os.open(p, os.O_WRONLY); os.writev(fd, [b'a', b'b']); os.close(fd)
    elif op == 'direct':
        fd = os.open(p, os.O_RDWR | os.O_DIRECT); buf = mmap.mmap(-1, 4096); buf.write(b'd' * 4096)
        os.pwrite(fd, buf, 0); os.close(fd)
    elif op == 'ftruncate':
        fd = os.open(p, os.O_WRONLY); os.ftruncate(fd, 3); os.close(fd)
    elif op == 'truncate':
        os.truncate(p, 3)
    elif op == 'otrunc':
        os.close(os.open(p, os.O_WRONLY | os.O_TRUNC))
    elif op == 'fallocate':
        fd = os.open(p, os.O_WRONLY); falloc(fd, 0, 0, 8192); os.close(fd)
    elif op == 'fallocate-keep':
        fd = os.open(p, os.O_WRONLY); falloc(fd, 1, 0, 8192); os.close(fd)
    elif op == 'cfr':
        src = os.open('src', os.O_RDONLY); fd = os.open(p, os.O_WRONLY)
        os.copy_file_range(src, fd, 4, 0, 0); os.close(fd); os.close(src)
    elif op == 'sendfile':
        src = os.open('src', os.O_RDONLY); fd = os.open(p, os.O_WRONLY)
        os.sendfile(fd, src, 0, 4); os.close(fd); os.close(src)
    elif op == 'mmap':
        fd = os.open(p, os.O_RDWR); m = mmap.mmap(fd, 0, mmap.MAP_SHARED); m[0:1] = b'!'; m.flush(); m.close(); os.close(fd)
    elif op == 'create':
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o6755); os.fchmod(fd, 0o6755); os.write(fd, b'#!/bin/sh\\n'); os.close(fd)
    elif op == 'chown':
        os.chown(p, 0, 0)
    elif op == 'open-rw':
        os.close(os.open(p, os.O_RDWR))
    else:
        raise SystemExit('unknown op ' + op)
`;

const OPS_BY_NOBODY = ['write', 'pwrite', 'append', 'writev', 'direct', 'ftruncate', 'truncate', 'otrunc', 'fallocate', 'fallocate-keep', 'cfr', 'sendfile', 'mmap', 'open-rw'];

/**
 * The files of the lower layer, each written once: `who` does `op` to `name`, whose mode (and
 * group) is given. The mode 06777 is the issue's.
 */
interface Case { name: string; mode: number; gid?: number; who: 'nobody' | 'root' | 'root-no-fsetid'; op: string; upper?: true; absent?: true }
const CASES: Case[] = [
  ...OPS_BY_NOBODY.map((op): Case => ({ name: `nobody-${op}`, mode: 0o6777, who: 'nobody', op })),
  // already in the upper layer (no copy-up on the way)
  { name: 'upper-nobody-write', mode: 0o6777, who: 'nobody', op: 'write', upper: true },
  { name: 'upper-nobody-truncate', mode: 0o6777, who: 'nobody', op: 'truncate', upper: true },
  // set-group-ID without group-execute: kept for a member of the file's group, cleared for others
  { name: 'sgid-noexec-other', mode: 0o2767, who: 'nobody', op: 'write' },
  { name: 'sgid-noexec-member', mode: 0o2766, gid: 65534, who: 'nobody', op: 'write' },
  { name: 'sgid-exec-member', mode: 0o2776, gid: 65534, who: 'nobody', op: 'write' },
  { name: 'suid-only', mode: 0o4777, who: 'nobody', op: 'append' },
  // CAP_FSETID keeps the bits
  { name: 'root-write', mode: 0o6777, who: 'root', op: 'write' },
  { name: 'root-truncate', mode: 0o6777, who: 'root', op: 'truncate' },
  { name: 'root-otrunc', mode: 0o6777, who: 'root', op: 'otrunc' },
  { name: 'root-fallocate', mode: 0o6777, who: 'root', op: 'fallocate' },
  { name: 'root-cfr', mode: 0o6777, who: 'root', op: 'cfr' },
  // created with the bits, then written
  { name: 'root-create', mode: 0, who: 'root', op: 'create', absent: true },
  { name: 'nobody-create', mode: 0, who: 'nobody', op: 'create', absent: true },
  // a chown clears S_ISUID whoever does it, S_ISGID as a write does
  { name: 'root-chown', mode: 0o6777, who: 'root', op: 'chown' },
  { name: 'root-chown-sgid-noexec', mode: 0o2767, who: 'root', op: 'chown' },
  // root without CAP_FSETID does not
  { name: 'nofsetid-write', mode: 0o6777, who: 'root-no-fsetid', op: 'write' },
  { name: 'nofsetid-append', mode: 0o6777, who: 'root-no-fsetid', op: 'append' },
  { name: 'nofsetid-fallocate', mode: 0o6777, who: 'root-no-fsetid', op: 'fallocate' },
  { name: 'nofsetid-cfr', mode: 0o6777, who: 'root-no-fsetid', op: 'cfr' },
];

interface Stack { base: string; lower: string; upper: string; work: string }

/** A lower layer with every case's file (owned by root), a source for copy_file_range, and an upper. */
function makeStack(): Stack {
  const base = tempDir(LABEL);
  fs.chmodSync(base, 0o755); // nobody walks to the mounts
  const s: Stack = { base, lower: path.join(base, 'lower'), upper: path.join(base, 'upper'), work: path.join(base, 'work') };
  for (const d of [s.lower, s.upper, s.work]) fs.mkdirSync(d, { mode: 0o755 });
  for (const dir of [s.lower, s.upper]) fs.chmodSync(dir, 0o777); // (nobody needs nothing more)
  fs.writeFileSync(path.join(s.lower, 'src'), 'src data from the lower layer\n');
  for (const c of CASES) {
    if (c.absent) continue;
    const p = path.join(c.upper ? s.upper : s.lower, c.name);
    fs.writeFileSync(p, '#!/bin/sh\nid\n' + '#'.repeat(200) + '\n');
    fs.chownSync(p, 0, c.gid ?? 0); // before the chmod: chown clears set-ID bits
    fs.chmodSync(p, c.mode);
  }
  return s;
}

/** Runs every case's operation in `dir` (a mount point): one process per kind of caller. */
async function runCases(dir: string): Promise<void> {
  for (const who of ['nobody', 'root', 'root-no-fsetid'] as const) {
    const args = CASES.filter((c) => c.who === who).map((c) => `${c.op}:${c.name}`);
    const prefix = who === 'nobody' ? NOBODY : who === 'root' ? [] : ROOT_NO_FSETID;
    const [cmd, ...rest] = [...prefix, PYTHON, '-c', OPS, ...args];
    await new Promise<void>((resolve, reject) => {
      execFile(cmd, rest, { cwd: dir, timeout: 60_000 }, (err, _out, stderr) =>
        err ? reject(new Error(`${who}: ${err.message}\n${stderr}`)) : resolve());
    });
  }
}

type Modes = Record<string, { mount: string; upper: string }>;

const octal = (m: number) => (m & 0o7777).toString(8).padStart(4, '0');

/**
 * The modes on the mount as stat(1) shows them: it asks statx for the mode alone, which the kernel
 * answers from its cache unless told the mode changed (a full stat would refresh it after a write).
 */
function modesOf(mountpoint: string, upper: string): Modes {
  const shown = new Map(execFileSync('stat', ['-c', '%n %a', ...CASES.map((c) => c.name)], { cwd: mountpoint, encoding: 'utf8' })
    .trim().split('\n').map((l) => l.split(' ') as [string, string]));
  const out: Modes = {};
  for (const c of CASES) {
    let up = 'absent';
    try {
      up = octal(fs.statSync(path.join(upper, c.name)).mode);
    } catch {
      /* not copied up */
    }
    out[c.name] = { mount: shown.get(c.name)!.padStart(4, '0'), upper: up };
  }
  return out;
}

let reference: Modes | null = null;

/** What kernel overlayfs does with the same cases (computed once). */
async function kernelModes(): Promise<Modes> {
  if (reference !== null) return reference;
  const s = makeStack();
  try {
    reference = await withKernelOverlay({ lower: [s.lower], upper: s.upper, work: s.work, mountpoint: path.join(s.base, 'mnt') }, async (m) => {
      await runCases(m.mountpoint);
      return modesOf(m.mountpoint, s.upper);
    });
    return reference;
  } finally {
    removeTree(s.base);
  }
}

test('the policy: modeAfterChange, mayPassThrough, writerOf', () => {
  const nobody: Writer = { fsetid: false, inGroup: (g) => g === 65534 };
  const root: Writer = { fsetid: true, inGroup: (g) => g === 0 };
  assert.is(modeAfterChange(0o106777, 0, nobody, false), 0o777);
  assert.is(modeAfterChange(0o106777, 0, nobody, true), 0o777);
  assert.is(modeAfterChange(0o106777, 0, root, false), 0o6777, 'CAP_FSETID keeps both');
  assert.is(modeAfterChange(0o104777, 0, root, true), 0o777, 'a chown clears S_ISUID whoever does it');
  assert.is(modeAfterChange(0o106777, 0, root, true), 0o777, 'and S_ISGID of a group-executable file');
  assert.is(modeAfterChange(0o102767, 0, root, true), 0o2767, 'S_ISGID without group-execute: kept with CAP_FSETID');
  assert.is(modeAfterChange(0o102766, 65534, nobody, false), 0o2766, 'kept for a member of the group');
  assert.is(modeAfterChange(0o102766, 0, nobody, false), 0o766, 'cleared for others');
  assert.is(modeAfterChange(0o102776, 65534, nobody, false), 0o776, 'group-executable: cleared for members too');
  assert.is(modeAfterChange(0o100755, 0, nobody, false), 0o755);
  assert.ok(hasSetId(0o104755) && hasSetId(0o102755) && !hasSetId(0o101777));
  assert.ok(mayPassThrough(0o106777, false) && !mayPassThrough(0o104755, true) && mayPassThrough(0o100755, true));
  // This process is root with every capability; a caller that cannot be read is unprivileged.
  const me = writerOf({ uid: 0, gid: 0, pid: process.pid });
  assert.ok(me.fsetid);
  assert.ok(me.inGroup(0));
  assert.not.ok(me.inGroup(4242));
  assert.not.ok(writerOf({ uid: 0, gid: 0, pid: 0 }).fsetid);
  assert.not.ok(writerOf({ uid: 0, gid: 0, pid: 0x3fffffff }).fsetid);
});

test('kernel overlayfs, the reference: what a write without CAP_FSETID clears', async () => {
  const k = await kernelModes();
  // Pinned, so that a kernel changing its rules shows here first.
  assert.equal(k['nobody-write'], { mount: '0777', upper: '0777' });
  assert.equal(k['nobody-fallocate-keep'], { mount: '0777', upper: '0777' }, 'any fallocate, as overlayfs calls file_remove_privs');
  assert.equal(k['nobody-mmap'], { mount: '6777', upper: '6777' }, 'a write fault clears nothing');
  assert.equal(k['nobody-open-rw'], { mount: '6777', upper: '6777' }, 'an open alone clears nothing');
  assert.equal(k['sgid-noexec-other'].mount, '0767');
  assert.equal(k['sgid-noexec-member'].mount, '2766');
  assert.equal(k['sgid-exec-member'].mount, '0776');
  assert.equal(k['root-write'].mount, '6777');
  assert.equal(k['nofsetid-write'].mount, '0777');
  assert.equal(k['root-create'], { mount: '6755', upper: '6755' }, 'created set-ID and written by root');
  assert.equal(k['nobody-create'], { mount: '0755', upper: '0755' }, 'created set-ID and written by nobody');
});

/** Every data path of the mount (lib/mount/server.ts). */
const PATHS: Record<string, Partial<MountOptions>> = {
  'passthrough': { opens: 'server', passthrough: true },
  'served, writeback cache': { opens: 'server', passthrough: false },
  'served, no writeback cache': { opens: 'server', passthrough: false, writeback: false },
  'kernel opens': { opens: 'kernel' },
  'kernel opens, writeback cache': { opens: 'kernel', writeback: true },
};

for (const [name, options] of Object.entries(PATHS)) {
  test(`[${name}] set-ID bits after each write as on kernel overlayfs, on the mount and in the upper`, async () => {
    const k = await kernelModes();
    const s = makeStack();
    try {
      await withLayerfs({ lower: [s.lower], upper: s.upper, work: s.work, mountpoint: path.join(s.base, 'mnt'), ...options }, async (m) => {
        assert.is(m.passthrough, options.passthrough === true);
        await runCases(m.mountpoint);
        const got = modesOf(m.mountpoint, s.upper);
        // Kernel opens copy up at the first write, not at an open for writing (no OPEN reaches us).
        if (options.opens === 'kernel') got['nobody-open-rw'].upper = k['nobody-open-rw'].upper;
        const wrong = CASES.filter((c) => got[c.name].mount !== k[c.name].mount || got[c.name].upper !== k[c.name].upper)
          .map((c) => `${c.name}: layerfs ${JSON.stringify(got[c.name])}, kernel ${JSON.stringify(k[c.name])}`);
        assert.equal(wrong, [], wrong.join('\n'));
      });
    } finally {
      removeTree(s.base);
    }
  });
}

test('[passthrough] a set-ID file already open in passthrough, then written by nobody: cleared', async () => {
  const s = makeStack();
  try {
    await withLayerfs({ lower: [s.lower], upper: s.upper, work: s.work, mountpoint: path.join(s.base, 'mnt'), opens: 'server', passthrough: true }, async (m) => {
      // Held open for reading by root (a first open: in passthrough), so nobody's open joins it.
      const held = fs.openSync(path.join(m.mountpoint, 'upper-nobody-write'), 'r');
      try {
        await ok(`${NOBODY.join(' ')} sh -c "echo 'echo pwned' >> '${m.mountpoint}/upper-nobody-write'"`);
        assert.is(octal(fs.statSync(path.join(m.mountpoint, 'upper-nobody-write')).mode), '0777');
        assert.is(octal(fs.statSync(path.join(s.upper, 'upper-nobody-write')).mode), '0777');
        assert.match(fs.readFileSync(path.join(s.upper, 'upper-nobody-write'), 'utf8'), /echo pwned\n$/);
      } finally {
        fs.closeSync(held);
      }
    });
  } finally {
    removeTree(s.base);
  }
});

test('[passthrough] a set-ID file already open in passthrough, then written by root: the mount shows what the upper holds', async () => {
  const s = makeStack();
  try {
    await withLayerfs({ lower: [s.lower], upper: s.upper, work: s.work, mountpoint: path.join(s.base, 'mnt'), opens: 'server', passthrough: true }, async (m) => {
      const f = path.join(m.mountpoint, 'upper-nobody-truncate');
      const held = fs.openSync(f, 'r');
      try {
        assert.is(octal(fs.statSync(f).mode), '6777');
        await ok(`sh -c "echo more >> '${f}'"`);
        // The kernel overlay keeps the bits here (CAP_FSETID); passthrough writes clear them.
        const upper = octal(fs.statSync(path.join(s.upper, 'upper-nobody-truncate')).mode);
        assert.ok(['6777', '0777'].includes(upper), upper);
        assert.is(execFileSync('stat', ['-c', '%a', f], { encoding: 'utf8' }).trim().padStart(4, '0'), upper);
      } finally {
        fs.closeSync(held);
      }
    });
  } finally {
    removeTree(s.base);
  }
});

test('[passthrough] the issue: nobody appends to a root set-uid file', async () => {
  const s = makeStack();
  try {
    await withLayerfs({ lower: [s.lower], upper: s.upper, work: s.work, mountpoint: path.join(s.base, 'mnt') }, async (m) => {
      const f = path.join(m.mountpoint, 'suid-only');
      const r = await sh(`${NOBODY.join(' ')} sh -c "echo 'echo pwned' >> '${f}'" && stat -c %A '${f}' '${s.upper}/suid-only'`);
      assert.is(r.code, 0, r.err);
      assert.is(r.out, '-rwxrwxrwx\n-rwxrwxrwx\n');
    });
  } finally {
    removeTree(s.base);
  }
});

/** A program of nobody's that opens `argv[1]` for appending, says so, and writes once told to. */
const LATE_WRITER = `
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
print('open', flush=True)
sys.stdin.readline()
os.write(fd, b'echo pwned\\n'); os.close(fd)
print('written', flush=True)
`;

test('[passthrough] a file given set-ID bits while open for writing in passthrough: the write clears them', async () => {
  const s = makeStack();
  try {
    const late = path.join(s.upper, 'late');
    fs.writeFileSync(late, '#!/bin/sh\nid\n');
    fs.chmodSync(late, 0o666);
    await withLayerfs({ lower: [s.lower], upper: s.upper, work: s.work, mountpoint: path.join(s.base, 'mnt'), opens: 'server', passthrough: true }, async (m) => {
      const f = path.join(m.mountpoint, 'late');
      const child = spawn(NOBODY[0], [...NOBODY.slice(1), PYTHON, '-c', LATE_WRITER, f], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '', err = '';
      const said = (word: string) => new Promise<void>((resolve, reject) => {
        const check = () => (out.includes(word) ? resolve() : undefined);
        child.stdout.on('data', (d) => { out += String(d); check(); });
        child.stderr.on('data', (d) => { err += String(d); });
        child.on('exit', () => (out.includes(word) ? resolve() : reject(new Error(`writer exited: ${err}`))));
        check();
      });
      const ended = new Promise((resolve) => child.on('exit', resolve));
      try {
        await said('open');
        fs.chmodSync(f, 0o4777); // root, through the mount: the writer's descriptor stays
        assert.is(octal(fs.statSync(f).mode), '4777');
        child.stdin.write('go\n');
        await said('written');
        await ended;
      } finally {
        child.kill();
      }
      assert.is(octal(fs.statSync(late).mode), '0777', 'the upper');
      assert.is(execFileSync('stat', ['-c', '%a', f], { encoding: 'utf8' }), '777\n', 'the mount');
    });
  } finally {
    removeTree(s.base);
  }
});

test('no mount left behind', () => {
  assertNoMountsUnder(PREFIX);
  for (const d of fs.readdirSync(os.tmpdir())) if (d.startsWith(LABEL)) removeTree(path.join(os.tmpdir(), d));
});

test.run();
