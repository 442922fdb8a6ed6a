/**
 * The model store settings, one definition for the tagger and the CLI (`patternflow model`),
 * so both read the same store with the same trusted key and pins.
 */
import { list, string } from '@patternflow/config';
import { DEFAULT_MODEL_STORE, DEV_PUBLIC_KEY_PATH } from './store.ts';

export function modelStoreConfigSpec() {
  return {
    /** The store: `<dir>/<name>/<version>/`. */
    modelsDir: string('PF_MODELS_DIR', DEFAULT_MODEL_STORE),
    /** PEM public key (Ed25519) every serving version must be signed for; default: the repo's DEV key. */
    modelPublicKey: string('PF_MODEL_PUBLIC_KEY', DEV_PUBLIC_KEY_PATH),
    /** `name@x.y.z,…`: versions that serve instead of the highest of their source. */
    modelVersions: list('PF_MODEL_VERSIONS', []),
  };
}
