DROP TABLE seat_history;
