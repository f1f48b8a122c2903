import { customAlphabet } from 'nanoid';

/**
 * A broker's instance id (8 characters): the prefix of its message and schedule ids, the suffix
 * of its connection ids, its node id in a cluster. Letters and digits only: nanoid's default
 * alphabet has `-`, and an id that began with it was read by the CLI as an option
 * (`linden scheduled cancel -x...`: "unknown option", seen in CI; 1 id in 64 began so).
 */
export const instanceId = customAlphabet('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz', 8);
