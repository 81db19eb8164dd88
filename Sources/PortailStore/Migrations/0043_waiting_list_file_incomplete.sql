-- A waiting entry whose family's file lacks what the center requires is passed over by the offer pass
-- (its own booking would be refused). It then no longer holds a freed place back from the families who
-- book the usual way: without this mark, the place stayed empty, refused to all as "complet", until
-- someone else joined the line or the day's deadline closed the entry. The pass looks at it again each
-- time, and offers it the next free place once the file is complete (WaitingList.offerFreedPlaces).
ALTER TABLE waiting_list ADD COLUMN file_incomplete boolean NOT NULL DEFAULT false;
