import { DockerDriver, type DockerDriverOptions } from './docker.driver';
import { DockerodeEngine } from './dockerode.engine';

export interface CreateDockerDriverOptions extends DockerDriverOptions {
  /** default /var/run/docker.sock */
  socketPath?: string;
}

/** The Docker driver against a real engine (over its unix socket). */
export function createDockerDriver(options: CreateDockerDriverOptions): DockerDriver {
  const { socketPath, ...driverOptions } = options;
  return new DockerDriver(new DockerodeEngine(socketPath === undefined ? {} : { socketPath }), driverOptions);
}
