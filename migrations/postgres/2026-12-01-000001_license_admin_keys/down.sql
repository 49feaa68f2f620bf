DROP TABLE license_admin_keys;
