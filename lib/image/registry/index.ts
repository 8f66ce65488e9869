/** The docker:// transport: a registry as an ImageSource and an ImageDestination, and its parts. */
export { parseReference, formatReference, RegistryReference, DOCKER_HUB } from './reference';
export { RegistryError, RegistryErrorCode } from './errors';
export { Credentials, findCredentials, saveCredentials, removeCredentials, authFiles, layerfsAuthFile } from './credentials';
export { RegistryClient, ClientOptions } from './client';
export { DockerSource, SourceOptions, MANIFEST_ACCEPT } from './source';
export { DockerDestination, DestinationOptions } from './destination';
export { BlobLocations } from './blob-locations';
export { login, logout } from './login';
