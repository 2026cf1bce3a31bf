// What the setup scripts (setup-gl.js, setup-browser.js, setup-real-set.js) share: whether a
// command or a Debian package is there, whether this process may install packages (root, with
// apt-get), and the install itself, each command said on stdout first.

const { execSync } = require('child_process');

/** Whether `command` is on the PATH. */
function has(command) {
  try {
    execSync(`command -v ${command}`, { stdio: 'ignore', shell: '/bin/bash' });
    return true;
  } catch {
    return false;
  }
}

/** Whether the Debian package `name` is installed (dpkg says "install ok installed"). */
function installed(name) {
  try {
    return /Status: install ok installed/.test(execSync(`dpkg -s ${name}`, { stdio: ['ignore', 'pipe', 'ignore'] }).toString());
  } catch {
    return false;
  }
}

/** Whether this process may install packages: root on a system with apt-get. */
function mayInstall() {
  return typeof process.getuid === 'function' && process.getuid() === 0 && has('apt-get');
}

/**
 * apt-get update, then install `packages` (the ones given, installed or not), non-interactively;
 * `tag` starts each line said, `options.env` adds to the environment, `options.recommends` keeps
 * apt's recommended packages.
 */
function aptInstall(tag, packages, options = {}) {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive', ...(options.env || {}) };
  const run = (cmd) => {
    console.log(`${tag}: ${cmd}`);
    execSync(cmd, { stdio: 'inherit', env });
  };
  run('apt-get update -qq');
  run(`apt-get install -y -qq${options.recommends ? '' : ' --no-install-recommends'} ${packages.join(' ')}`);
}

module.exports = { has, installed, mayInstall, aptInstall };
