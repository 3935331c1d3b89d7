-- Reading a script's variable-length KEYS and ARGV (the header's repeated parts).

-- The entries of `list` after its first `offset`, in groups of #names: one table per group,
-- each entry under its name (``each(KEYS, 6, {'chat_key', 'queue_key'})[1].queue_key``).
local function each(list, offset, names)
  local out, size, i = {}, #names, offset
  while i + size <= #list do
    local item = {}
    for j, name in ipairs(names) do item[name] = list[i + j] end
    out[#out + 1] = item
    i = i + size
  end
  return out
end

-- The entries of `list` after its first `offset`.
local function rest(list, offset)
  local out = {}
  for i = offset + 1, #list do out[#out + 1] = list[i] end
  return out
end
