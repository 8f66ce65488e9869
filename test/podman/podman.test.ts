import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildTestDeb, Podman, rootfsTarball } from '../helpers/podman';
import { launcherIn, scratchDir } from '../helpers/scratch';

/**
 * podman as a real client: containers whose root filesystems layerfs mounts (overlay.mount_program),
 * changed the ways packages and programs change them, committed, and run again from the commit.
 */
const CLI = path.join(__dirname, '..', '..', 'lib', 'cli', 'main.js');

const IN_CONTAINER = `
set -e
cat /etc/debian_version
echo new > /root/newfile
echo appended >> /etc/issue && grep -q appended /etc/issue
rm -r /usr/share/doc && test ! -e /usr/share/doc
mv /usr/share/man /usr/share/man-moved && test -d /usr/share/man-moved && test ! -e /usr/share/man
chmod 600 /etc/issue.net && test "$(stat -c %a /etc/issue.net)" = 600
ln /etc/issue /root/issue-link && echo more >> /root/issue-link && grep -q more /etc/issue
test "$(stat -c %i /etc/issue)" = "$(stat -c %i /root/issue-link)"
cp -a /usr/lib /root/libcopy && diff -r /usr/lib /root/libcopy > /dev/null
mkdir -p /var/tmp/a/b/c && echo deep > /var/tmp/a/b/c/f && rm -r /var/tmp/a
dpkg -i /pkg/layerfs-test.deb > /dev/null && dpkg -s layerfs-test | grep -q 'Status: install ok installed'
test "$(ls /usr/share/layerfs-test | wc -l)" = 50
rm /etc/issue.net
echo OK
`;

const AFTER_COMMIT = `
set -e
test "$(cat /root/newfile)" = new
test ! -e /usr/share/doc
test -d /usr/share/man-moved && test ! -e /usr/share/man
grep -q appended /etc/issue && grep -q more /etc/issue
test ! -e /etc/issue.net
test ! -e /var/tmp/a
dpkg -s layerfs-test | grep -q 'install ok installed'
test -f /usr/share/layerfs-test/file49
echo OK
`;

test('podman runs, changes, commits and reruns containers on layerfs', () => {
  const tar = rootfsTarball();
  // Everything in one dir of the test's own, removed in finally or at exit: podman's storage, the
  // package, and the mount program podman is given (a link to the launcher, nothing installed machine-wide).
  const scratch = scratchDir('layerfs-podman-');
  try {
    fs.chmodSync(CLI, 0o755);
    // Not the machine-wide mount service (/run/layerfs): the launcher starts a server per mount.
    const podman = new Podman(scratch.dir, launcherIn(scratch.dir), '', { LAYERFS_NO_SERVICE: '1' });
    try {
      const pkg = path.join(scratch.dir, 'pkg');
      fs.mkdirSync(pkg);
      buildTestDeb(pkg);
      podman.run(['import', tar, 'localhost/layerfs-test:base']);
      const out = podman.run(['run', ...Podman.runFlags, '--name', 'c1', '-v', `${pkg}:/pkg:ro`, 'localhost/layerfs-test:base', 'sh', '-c', IN_CONTAINER]);
      assert.match(out, /OK\s*$/);
      podman.run(['commit', 'c1', 'localhost/layerfs-test:changed']);
      podman.run(['rm', 'c1']);
      const again = podman.run(['run', '--rm', ...Podman.runFlags, 'localhost/layerfs-test:changed', 'sh', '-c', AFTER_COMMIT]);
      assert.match(again, /OK\s*$/);
      // layerfs, not the kernel, mounted it: while a container runs, its root is a layerfs mount.
      const mounts = podman.run(['run', '--rm', ...Podman.runFlags, 'localhost/layerfs-test:changed', 'cat', '/proc/self/mounts']);
      assert.match(mounts.split('\n')[0], / \/ fuse\.layerfs /);
    } finally {
      podman.cleanup();
    }
  } finally {
    scratch.remove();
  }
});

test.run();
