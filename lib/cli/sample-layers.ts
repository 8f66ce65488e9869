import * as fs from 'node:fs';
import * as path from 'node:path';
import * as sys from '../sys';

/**
 * A small image: a base layer, a package layer, and an app layer that deletes and replaces things,
 * written with each marker form layerfs reads (kernel device whiteouts, OCI .wh. files, opaque xattr).
 */
export interface SampleLayers {
  base: string;
  lower: string[]; // top first
}

function write(root: string, rel: string, content: string, mode = 0o644): void {
  const p = path.join(root, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, content, { mode });
  fs.chmodSync(p, mode);
}

export function writeSampleLayers(base: string): SampleLayers {
  const [app, pkg, os] = ['app', 'packages', 'base'].map((n) => path.join(base, n));
  fs.rmSync(base, { recursive: true, force: true });
  for (const d of [app, pkg, os]) fs.mkdirSync(d, { recursive: true });

  write(os, 'etc/os-release', 'NAME="Sample Linux"\nVERSION_ID="1"\n');
  write(os, 'etc/hostname', 'sample\n');
  write(os, 'etc/motd', 'Welcome to the base layer.\n');
  write(os, 'bin/sh', '#!/bin/true\n', 0o755);
  write(os, 'var/cache/apt/pkgcache.bin', 'cache'.repeat(100));
  write(os, 'tmp/.keep', '');
  fs.symlinkSync('bin', path.join(os, 'sbin'));

  write(pkg, 'usr/bin/hello', '#!/bin/sh\necho hello\n', 0o755);
  write(pkg, 'usr/share/doc/hello/README', 'hello, a sample package\n');
  write(pkg, 'etc/motd', 'Welcome, packages installed.\n');
  write(pkg, 'var/cache/apt/archives/hello.deb', 'deb');

  write(app, 'app/server.js', 'console.log("serving")\n', 0o755);
  write(app, 'etc/hostname', 'app-container\n');
  // Kernel-style whiteout: remove /etc/motd.
  sys.mknodat(sys.AT.FDCWD, path.join(app, 'etc/motd'), sys.S.IFCHR, sys.makedev(0, 0));
  // OCI-style whiteout: remove /usr/share/doc.
  write(app, 'usr/share/.wh.doc', '');
  // Opaque directory: /var/cache starts empty in this layer.
  fs.mkdirSync(path.join(app, 'var/cache'), { recursive: true });
  sys.setxattrat(sys.AT.FDCWD, path.join(app, 'var/cache'), 'trusted.overlay.opaque', Buffer.from('y'));
  write(app, 'var/cache/app.state', 'fresh\n');
  return { base, lower: [app, pkg, os] };
}

/** Rewrites OCI markers as the kernel's: `.wh.NAME` -> device 0/0 NAME, `.wh..wh..opq` -> opaque xattr. */
export function convertOciMarkers(dir: string): void {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.name === '.wh..wh..opq') {
      fs.unlinkSync(p);
      sys.setxattrat(sys.AT.FDCWD, dir, 'trusted.overlay.opaque', Buffer.from('y'));
    } else if (e.name.startsWith('.wh.')) {
      fs.unlinkSync(p);
      sys.mknodat(sys.AT.FDCWD, path.join(dir, e.name.slice(4)), sys.S.IFCHR, sys.makedev(0, 0));
    } else if (e.isDirectory()) {
      convertOciMarkers(p);
    }
  }
}
