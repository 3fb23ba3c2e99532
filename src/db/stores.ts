import type { Config } from '../config.js'
import { CachedClientStore } from './cached-client-store.js'
import { ClientsRepository } from './clients-repository.js'
import type { Database } from './database.js'
import type { ClientStore, YubikeyStore } from './types.js'
import { YubikeysRepository } from './yubikeys-repository.js'

export interface Stores {
  clients: ClientStore
  yubikeys: YubikeyStore
}

/** The stores the verify path uses: clients behind the TTL cache, yubikeys straight to the database. */
export function createStores (db: Database, config: Pick<Config, 'clientCacheMs'>): Stores {
  return {
    clients: new CachedClientStore(new ClientsRepository(db), { ttlMs: config.clientCacheMs }),
    yubikeys: new YubikeysRepository(db)
  }
}
