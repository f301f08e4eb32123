-- The batch layer's catalogs: the Hive metastore's and Airflow's (first start only).
CREATE DATABASE metastore;
CREATE DATABASE airflow;
