-- The tables of yubikey-val's ykval-db.sql, with the same names, columns, types and defaults, so an
-- administrator's SQL habits (and yubikey-val's export/import formats) keep working. IF NOT EXISTS lets
-- yubival adopt a database already created by yubikey-val. yubikey-val's `queue` table (peer sync) is
-- not used.

CREATE TABLE IF NOT EXISTS clients (
  id INT NOT NULL,
  active BOOLEAN DEFAULT TRUE,
  created INT NOT NULL,
  secret VARCHAR(60) NOT NULL DEFAULT '',
  email VARCHAR(255),
  notes VARCHAR(100) DEFAULT '',
  otp VARCHAR(100) DEFAULT '',
  PRIMARY KEY (id)
);

-- -1 in the numeric columns means "never seen" (yubikey-val's convention).
CREATE TABLE IF NOT EXISTS yubikeys (
  active BOOLEAN DEFAULT TRUE,
  created INT NOT NULL,
  modified INT NOT NULL,
  yk_publicname VARCHAR(16) NOT NULL,
  yk_counter INT NOT NULL,
  yk_use INT NOT NULL,
  yk_low INT NOT NULL,
  yk_high INT NOT NULL,
  nonce VARCHAR(40) DEFAULT '',
  notes VARCHAR(100) DEFAULT '',
  PRIMARY KEY (yk_publicname)
);
