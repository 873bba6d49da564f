-- Loaded by the PUT scripts after ids.lua: which of the thread's ids has a PUT in flight. A thread's connections
-- take its ids in turn, so an id comes round again after the thread's share of them; were its last PUT still
-- unanswered then (one PUT stalled longer than the share's turn, as on a busy machine), a second PUT would name
-- the same If-Match and answer 412. So each PUT goes to the next id without one in flight.
local inflight, index = {}, nil

function next_free()
  if index == nil then
    index = {}
    for i, id in ipairs(ids) do index[id] = i end
  end
  for _ = 1, #ids do
    pos = pos % #ids + 1
    if not inflight[ids[pos]] then
      inflight[ids[pos]] = true
      return pos
    end
  end
  pos = pos % #ids + 1  -- every id in flight: more connections than ids, which no bench row has
  return pos
end

-- An answer: a 200's ETag names the id and its new version; any other answer's problem names the id in its
-- `instance`, which `instance_id` (the script's) reads.
function answered(headers, body, instance_id)
  local etag = headers["etag"] or headers["ETag"]
  local id, version = nil, nil
  if etag then
    id, version = etag:match('^"(%S+)%.(%d+)"$')
  elseif body then
    id = instance_id(body:match('"instance":%s*"([^"]*)"') or "")
  end
  if id then
    inflight[id] = nil
    local i = index and index[id]
    if i and version then tags[i] = tonumber(version) end
  end
end
