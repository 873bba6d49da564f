-- Loaded by the other scripts: reads lines "id version name" from the file in args[1]; with args[2] = N > 0, a
-- thread keeps every N-th line starting at its own index (idx, set in setup), so threads share no id.
ids, tags, names, pos = {}, {}, {}, 0
function init(args)
  local i, every = 0, tonumber(args[2])
  for line in io.lines(args[1]) do
    local id, version, name = line:match("^(%S+) (%d+) (.*)$")
    if every == 0 or i % every == idx then
      table.insert(ids, id); table.insert(tags, tonumber(version)); table.insert(names, name)
    end
    i = i + 1
  end
end
