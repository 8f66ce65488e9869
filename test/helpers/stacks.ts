import type { LayerSpec } from './layers';

/** A small stack (top first) that uses every lookup rule at least once. */
export const HAND_MADE: LayerSpec[] = [
  {
    'etc/hosts': { type: 'file', content: 'top hosts', mode: 0o600, uid: 1000, gid: 100 },
    'etc/removed.conf': { type: 'whiteout' },
    'var': { type: 'dir', opaque: true, mode: 0o700 },
    'var/lib/new': { type: 'file', content: 'new' },
    'bin': { type: 'symlink', target: 'usr/bin' },
    'usr/bin/tool': { type: 'file', content: '#!/bin/sh\n', mode: 0o755, xattrs: { 'user.note': 'hi', 'trusted.overlay.overlay.esc': 'nested' } },
    'usr/lib': { type: 'whiteout' },
    'pipe': { type: 'fifo' },
  },
  {
    'etc/hosts': { type: 'file', content: 'middle hosts' },
    'etc/removed.conf': { type: 'file', content: 'x' },
    'etc/passwd': { type: 'file', content: 'root:x:0:0::/root:/bin/sh\n', xattrs: { 'trusted.plain': 'p' } },
    'var/cache/old': { type: 'file' },
    'bin/sh': { type: 'file', content: 'elf' },
    'usr/lib/libc.so': { type: 'file' },
  },
  {
    'etc/os-release': { type: 'file', content: 'ID=test' },
    'var/log/syslog': { type: 'file' },
    'usr/lib/x/y': { type: 'file' },
    'usr/share/doc': { type: 'dir', mode: 0o755 },
    'pipe': { type: 'file', content: 'a file below a fifo' },
  },
];
