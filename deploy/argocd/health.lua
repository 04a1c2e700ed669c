-- Argo CD health of TenantSyncPolicy, CloudUserConversion and CloudGroupConversion: the
-- operator writes kstatus conditions (observedGeneration, Ready, Reconciling, Stalled), so the
-- same script reads all three kinds. Stalled (a person is needed: approval, a bad spec, a
-- missing permission, drift under `drift: Report`) is Degraded with the operator's message;
-- Ready is Healthy; anything else, or a status of an older generation, is Progressing.
local function said(c)
  return (c.reason or "") .. ": " .. (c.message or "")
end
hs = {status = "Progressing", message = "waiting for the operator"}
if obj.status == nil or obj.status.conditions == nil then
  return hs
end
if obj.status.observedGeneration ~= obj.metadata.generation then
  hs.message = "waiting for the operator to observe generation " .. tostring(obj.metadata.generation)
  return hs
end
for _, c in ipairs(obj.status.conditions) do
  if c.type == "Stalled" and c.status == "True" then
    return {status = "Degraded", message = said(c)}
  end
end
for _, c in ipairs(obj.status.conditions) do
  if c.type == "Ready" then
    if c.status == "True" then
      return {status = "Healthy", message = c.message}
    end
    return {status = "Progressing", message = said(c)}
  end
end
return hs
