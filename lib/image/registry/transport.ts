/**
 * Registers `docker://` with the store's transports (lib/image/transports), so every command that
 * takes a transport reference (copy, import, export) reads and writes registries too.
 */
import { registerTransport } from '../transports';
import { DockerDestination } from './destination';
import { DockerSource } from './source';

registerTransport({
  name: 'docker',
  source: async (rest) => new DockerSource(rest.replace(/^\/\//, '')),
  destination: async (rest) => new DockerDestination(rest.replace(/^\/\//, '')),
});
