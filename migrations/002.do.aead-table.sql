-- AEADs in the database (YUBIVAL_AEAD_STORE=database), in the layout of pyhsm's SQL backend
-- (doc/db_schema: public_id, keyhandle, nonce, aead), with bytea for BLOB, so tables made by
-- yhsm-db-import can be read as they are. The rows are useless without the keyfile, which stays on
-- each node. IF NOT EXISTS lets yubival adopt an existing pyhsm table.
CREATE TABLE IF NOT EXISTS aead_table (
  public_id VARCHAR(16) NOT NULL,
  keyhandle INT NOT NULL,
  nonce BYTEA NOT NULL,
  aead BYTEA NOT NULL,
  PRIMARY KEY (public_id, keyhandle)
);
